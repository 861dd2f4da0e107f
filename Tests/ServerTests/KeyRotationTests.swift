import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import Logging
import NIOPosix
import NIOSSL
@testable import Server
import Storage
import StrictJSON
import TestSupport
import Testing
import X509

@Suite("Rotating the server's keys")
struct KeyRotationTests {
    typealias Files = ServerIdentity.Files
    static let logger = Logger(label: "faceloop.tests.rotation")

    struct Node {
        let root: String
        let data: String
        let store: SQLiteStore

        func path(_ name: String) -> String { (data as NSString).appendingPathComponent(name) }

        func keys() async throws -> ServerKeys {
            try await ServerKeyFiles.load(dataDirectory: data, store: store, logger: KeyRotationTests.logger)
        }

        func rotation(_ keys: ServerKeys, directory: String? = nil, now: Date = Date()) -> KeyRotation {
            KeyRotation(keys: keys, store: store, dataDirectory: directory ?? data, certificateHosts: ["localhost", "127.0.0.1"],
                        logger: KeyRotationTests.logger, now: { now })
        }

        func read(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }
    }

    static func node() async throws -> Node {
        let root = try temporaryDirectory("rotation")
        let store = try SQLiteStore(path: (root as NSString).appendingPathComponent("store.sqlite"))
        let data = (root as NSString).appendingPathComponent("data")
        _ = try await ServerIdentity.loadOrCreate(dataDirectory: data, hosts: ["localhost"], store: store, logger: logger)
        return Node(root: root, data: data, store: store)
    }

    static func auditKinds(_ store: SQLiteStore) async throws -> [String] {
        try await store.auditEntries(from: 0, to: try await store.auditTreeSize()).compactMap { try? JSONValue.parse($0)["kind"]?.stringValue }
    }

    @Test("a release-key rotation: generation 2 endorsed by generation 1, an audit entry, the .pub file, and the same after a restart")
    func releaseKey() async throws {
        let node = try await Self.node()
        defer { try? FileManager.default.removeItem(atPath: node.root) }
        let keys = try await node.keys()
        let first = keys.current.releaseKey.publicKey
        let rotated = try await node.rotation(keys).rotate(.releaseSigning, actor: "token:ops (admin)")
        #expect(rotated.generation == 2)
        #expect(rotated.previousKeyID == SignedRelease.keyID(of: first))
        #expect(rotated.keyID == SignedRelease.keyID(of: keys.current.releaseKey.publicKey))
        #expect(keys.current.releaseAnchor.rawRepresentation == first.rawRepresentation, "kiosks keep pinning the first key")
        let chain = try SigningKeyHistory.verify(pinned: first, endorsements: keys.current.releaseEndorsements, purpose: .releaseSigning)
        #expect(chain.map(\.keyID) == [rotated.previousKeyID, rotated.keyID])
        #expect(try node.read(Files.releaseSigningPublicKey).trimmingCharacters(in: .whitespacesAndNewlines)
                == keys.current.releaseKey.publicKey.rawRepresentation.base64EncodedString())
        #expect(!FileManager.default.fileExists(atPath: ServerKeyFiles.pending(node.path(Files.releaseSigningKey))))
        #expect(try await Self.auditKinds(node.store).contains("key_rotated"))

        let restarted = try await node.keys()
        #expect(SignedRelease.keyID(of: restarted.current.releaseKey.publicKey) == rotated.keyID)
        #expect(restarted.current.releaseEndorsements.map(\.payload) == keys.current.releaseEndorsements.map(\.payload))
        #expect(restarted.current.releaseEndorsements.map(\.signature) == keys.current.releaseEndorsements.map(\.signature))
        #expect(restarted.current.releaseAnchor.rawRepresentation == first.rawRepresentation)
    }

    @Test("an audit-key rotation keeps the log's name, which stays the first key's")
    func auditKey() async throws {
        let node = try await Self.node()
        defer { try? FileManager.default.removeItem(atPath: node.root) }
        let keys = try await node.keys()
        let origin = keys.current.auditOrigin
        #expect(origin == "faceloop-audit/" + SignedRelease.keyID(of: keys.current.auditKey.publicKey))
        _ = try await node.rotation(keys).rotate(.auditSigning, actor: "token:ops (admin)")
        #expect(try await node.keys().current.auditOrigin == origin)
        #expect(try await node.keys().current.auditEndorsements.count == 1)
    }

    @Test("a device-CA rotation: a new CA issues, the old one cross-signs it and stays trusted, and the TLS chain carries the cross certificate")
    func deviceCA() async throws {
        let node = try await Self.node()
        defer { try? FileManager.default.removeItem(atPath: node.root) }
        let keys = try await node.keys()
        let old = keys.current.deviceCA.certificate
        let rotation = node.rotation(keys)
        let rotated = try await rotation.rotate(.deviceCA, actor: "token:ops (admin)")
        let new = keys.current.deviceCA.certificate
        #expect(new != old)
        #expect(rotated.keyID == (try new.sha256Fingerprint))
        #expect(keys.current.trustedAuthorities == [old, new])
        let cross = try #require(keys.current.crossCertificates.first)
        #expect(cross.issuer == old.subject && cross.subject == new.subject && cross.publicKey == new.publicKey)
        #expect(old.publicKey.isValidSignature(cross.signature, for: cross), "signed by the old CA")
        #expect(try Certificate.bundle(pem: try node.read(Files.caCertificate)) == [old, new], "ca.crt lists both")
        #expect(try Certificate.bundle(pem: try node.read(Files.caCrossCertificates)) == [cross])

        // A kiosk certificate now comes from the new CA; the TLS certificate too, with the cross certificate behind it.
        let device = try keys.current.deviceCA.issueDeviceCertificate(
            csrPEM: try DeviceKeys().certificateSigningRequestPEM(deviceID: "kiosk-1"), deviceID: "kiosk-1")
        #expect(device.issuer == new.subject && new.publicKey.isValidSignature(device.signature, for: device))
        _ = try await rotation.rotate(.tlsCertificate, actor: "token:ops (admin)")
        let chain = try Certificate.bundle(pem: try node.read(Files.serverCertificate))
        #expect(chain.count == 2 && chain[0].issuer == new.subject && chain[1] == cross)
        #expect(keys.current.tlsLeaf == chain[0])

        let restarted = try await node.keys()
        #expect(restarted.current.deviceCA.certificate == new)
        #expect(restarted.current.trustedAuthorities == [old, new])
        #expect(restarted.current.tlsLeaf == chain[0])
    }

    @Test("the TLS certificate is due at two thirds of its life, and renewing serves a new one")
    func tlsRenewal() async throws {
        let node = try await Self.node()
        defer { try? FileManager.default.removeItem(atPath: node.root) }
        let keys = try await node.keys()
        let leaf = keys.current.tlsLeaf
        let life = leaf.notValidAfter.timeIntervalSince(leaf.notValidBefore)
        let rotation = node.rotation(keys)
        #expect(await !rotation.tlsCertificateDue(at: leaf.notValidBefore.addingTimeInterval(life * 0.66)))
        #expect(await rotation.tlsCertificateDue(at: leaf.notValidBefore.addingTimeInterval(life * 0.67)))
        try await rotation.renewTLSCertificateIfDue()
        #expect(keys.current.tlsLeaf == leaf, "not due yet: nothing renewed")

        // What each handshake is told to serve: the TLS context's own chain until a renewal,
        // then the renewed one.
        let served = keys.current.tlsChain
        let callback = keys.tlsContextCallback(contextServes: served)
        func handshakeOverride() async throws -> NIOSSLContextConfigurationOverride {
            let promise = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: NIOSSLContextConfigurationOverride.self)
            callback(NIOSSLClientExtensionValues(serverHostname: nil), promise)
            return try await promise.futureResult.get()
        }
        #expect(try await handshakeOverride().certificateChain == nil)

        let later = node.rotation(keys, now: leaf.notValidBefore.addingTimeInterval(life * 0.7))
        try await later.renewTLSCertificateIfDue()
        let override = try await handshakeOverride()
        let overriddenChain = (override.certificateChain ?? []).compactMap { source -> NIOSSLCertificate? in
            if case let .certificate(certificate) = source { certificate } else { nil }
        }
        #expect(overriddenChain == keys.current.tlsChain && overriddenChain != served)
        #expect(override.privateKey != nil)
        let renewed = keys.current.tlsLeaf
        #expect(renewed != leaf)
        #expect(renewed.notValidAfter > leaf.notValidAfter)
        #expect(try await node.store.serverKeys(purpose: "tls-certificate").map(\.generation) == [1, 2])
    }

    @Test("a rotation the store never recorded is removed at start; one it recorded is finished")
    func interruptedRotations() async throws {
        let node = try await Self.node()
        defer { try? FileManager.default.removeItem(atPath: node.root) }
        let keys = try await node.keys()
        let current = keys.current.releaseKey
        let privatePath = node.path(Files.releaseSigningKey)

        // Crashed before the store's commit: the attempt is abandoned.
        let abandoned = Curve25519.Signing.PrivateKey()
        try PrivateFile.replace(Data(abandoned.rawRepresentation.base64EncodedString().utf8), at: ServerKeyFiles.pending(privatePath))
        #expect(try await node.keys().current.releaseKey.rawRepresentation == current.rawRepresentation)
        #expect(!FileManager.default.fileExists(atPath: ServerKeyFiles.pending(privatePath)))

        // Crashed after the commit, before the rename: the start finishes it.
        let committed = Curve25519.Signing.PrivateKey()
        try PrivateFile.replace(Data(committed.rawRepresentation.base64EncodedString().utf8), at: ServerKeyFiles.pending(privatePath))
        let endorsement = try SigningKeyEndorsement.sign(purpose: .releaseSigning, generation: 2, newKey: committed.publicKey,
                                                         previous: current, at: Date())
        try await node.store.recordServerKeyRotation(
            ServerKeyRecord(purpose: "release-signing", generation: 2, keyID: SignedRelease.keyID(of: committed.publicKey),
                            publicMaterial: committed.publicKey.rawRepresentation.base64EncodedString(),
                            endorsement: String(decoding: try WireJSON.encoder().encode(endorsement), as: UTF8.self), activatedAt: Date()),
            previousKeyID: SignedRelease.keyID(of: current.publicKey), actor: "test")
        let finished = try await node.keys()
        #expect(finished.current.releaseKey.rawRepresentation == committed.rawRepresentation)
        #expect(!FileManager.default.fileExists(atPath: ServerKeyFiles.pending(privatePath)))
    }

    @Test("a node whose key files are behind the store cannot fork the history")
    func staleNode() async throws {
        let node = try await Self.node()
        defer { try? FileManager.default.removeItem(atPath: node.root) }
        let stale = (node.root as NSString).appendingPathComponent("stale")
        try FileManager.default.copyItem(atPath: node.data, toPath: stale)
        _ = try await node.rotation(try await node.keys()).rotate(.releaseSigning, actor: "token:ops (admin)")

        let staleKeys = try await ServerKeyFiles.load(dataDirectory: stale, store: node.store, logger: Self.logger)
        await #expect(throws: ServerKeyStoreError.notNewest(purpose: "release-signing", generation: 2)) {
            _ = try await node.rotation(staleKeys, directory: stale).rotate(.releaseSigning, actor: "token:ops (admin)")
        }
        #expect(try await node.store.serverKeys(purpose: "release-signing").count == 2)
        #expect(!FileManager.default.fileExists(atPath: ServerKeyFiles.pending((stale as NSString).appendingPathComponent(Files.releaseSigningKey))))
    }
}

extension KeyRotationTests {
    @Test("a lost release or audit key made again at start is refused: it would sign what no pinned history verifies")
    func lostKey() async throws {
        for name in [Files.releaseSigningKey, Files.auditSigningKey] {
            let node = try await Self.node()
            defer { try? FileManager.default.removeItem(atPath: node.root) }
            _ = try await node.keys()
            try FileManager.default.removeItem(atPath: node.path(name))
            _ = try await ServerIdentity.loadOrCreate(dataDirectory: node.data, hosts: ["localhost"], store: node.store, logger: Self.logger)
            await #expect(throws: ServerIdentity.IdentityError.self) { _ = try await node.keys() }
        }
    }
}

extension KeyRotationTests {
    @Test("after two device-CA rotations the TLS chain walks back to the first CA, and every CA keeps the first one's name")
    func twoCARotations() async throws {
        let node = try await Self.node()
        defer { try? FileManager.default.removeItem(atPath: node.root) }
        let keys = try await node.keys()
        let rotation = node.rotation(keys)
        _ = try await rotation.rotate(.deviceCA, actor: "token:ops (admin)")
        _ = try await rotation.rotate(.deviceCA, actor: "token:ops (admin)")
        _ = try await rotation.rotate(.tlsCertificate, actor: "token:ops (admin)")
        let authorities = keys.current.trustedAuthorities
        #expect(authorities.count == 3)
        #expect(Set(authorities.map { "\($0.subject)" }).count == 1, "self-issued cross certificates: one name for all generations")
        let chain = try Certificate.bundle(pem: try node.read(Files.serverCertificate))
        #expect(chain.count == 3)
        // leaf ← CA 3; CA 3's key certified by CA 2; CA 2's key certified by CA 1.
        for (index, certificate) in chain.enumerated() {
            let issuer = authorities[authorities.count - 1 - index]
            #expect(issuer.publicKey.isValidSignature(certificate.signature, for: certificate), "link \(index)")
            if index > 0 { #expect(certificate.publicKey == authorities[authorities.count - index].publicKey) }
        }
    }
}
