import Foundation
import Logging
@testable import Server
import Storage
import TestSupport
import Testing

@Suite("Server key files and the admin token")
struct ServerKeyFileTests {
    typealias Files = ServerIdentity.Files
    static let logger = Logger(label: "faceloop.tests.identity")

    /// An empty data directory and a store beside it (not inside: the directory holds keys only).
    static func fresh() throws -> (data: String, store: SQLiteStore, cleanup: () -> Void) {
        let root = try temporaryDirectory("identity")
        let store = try SQLiteStore(path: (root as NSString).appendingPathComponent("store.sqlite"))
        return ((root as NSString).appendingPathComponent("data"), store, { try? FileManager.default.removeItem(atPath: root) })
    }

    static func start(_ data: String, _ store: SQLiteStore, mint: Bool = false) async throws {
        _ = try await ServerIdentity.loadOrCreate(dataDirectory: data, hosts: ["localhost"], store: store, mintAdminToken: mint,
                                                  logger: logger)
    }

    static func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    static func refusal(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("first start creates every secret 0600 and the public files 0644, with nothing else left behind")
    func modes() async throws {
        let (data, store, cleanup) = try Self.fresh()
        defer { cleanup() }
        try await Self.start(data, store)
        for name in Files.secrets { #expect(try Self.mode((data as NSString).appendingPathComponent(name)) == 0o600, "\(name)") }
        for name in [Files.caCertificate, Files.serverCertificate, Files.releaseSigningPublicKey, Files.auditSigningPublicKey] {
            #expect(try Self.mode((data as NSString).appendingPathComponent(name)) == 0o644, "\(name)")
        }
        let listed = Set(try FileManager.default.contentsOfDirectory(atPath: data))
        #expect(listed == Set(Files.secrets + [Files.caCertificate, Files.serverCertificate, Files.releaseSigningPublicKey,
                                               Files.auditSigningPublicKey]))
    }

    @Test("start-up refuses a secret that group or others may read, and says how to fix it", arguments: Files.secrets)
    func exposed(name: String) async throws {
        let (data, store, cleanup) = try Self.fresh()
        defer { cleanup() }
        try await Self.start(data, store)
        let path = (data as NSString).appendingPathComponent(name)
        for mode in [0o640, 0o604] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            let message = await Self.refusal { try await Self.start(data, store) }
            #expect(message == "\(path) is open to other users (mode \(String(mode, radix: 8))): run `chmod 600 \(path)` and try again, "
                + "and replace the secret in it if someone else may have read it")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        try await Self.start(data, store)
    }

    @Test("a link planted where a key is to be created is neither written through nor replaced")
    func plantedLink() async throws {
        let (data, store, cleanup) = try Self.fresh()
        defer { cleanup() }
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let target = (data as NSString).deletingLastPathComponent + "/stolen.key"
        let key = (data as NSString).appendingPathComponent(Files.releaseSigningKey)
        try FileManager.default.createSymbolicLink(atPath: key, withDestinationPath: target)
        let message = await Self.refusal { try await Self.start(data, store) }
        #expect(message == "\(key) is already there, so nothing was written to it; move it away and try again")
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: key) == target)
    }

    @Test("a missing admin.token mints no admin token on a store that has one; --mint-admin-token does, deliberately")
    func adminToken() async throws {
        let (data, store, cleanup) = try Self.fresh()
        defer { cleanup() }
        try await Self.start(data, store)
        let file = (data as NSString).appendingPathComponent(Files.adminToken)
        #expect(try await store.apiTokens().map(\.role) == ["admin"])
        try FileManager.default.removeItem(atPath: file)

        let message = await Self.refusal { try await Self.start(data, store) }
        #expect(message?.hasPrefix("\(file) is missing, but the store already has an admin token, so no new one was made.") == true)
        #expect(message?.contains("--mint-admin-token") == true)
        #expect(!FileManager.default.fileExists(atPath: file))
        #expect(try await store.apiTokens().count == 1)

        try await Self.start(data, store, mint: true)
        let token = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await store.apiToken(sha256: APIToken.sha256(token))?.role == "admin")
        #expect(try await store.apiTokens().map(\.label) == ["first admin", "minted at start-up"])
        #expect(try Self.mode(file) == 0o600)

        // With the file there the flag has nothing to do, and says so rather than doing it anyway.
        let again = await Self.refusal { try await Self.start(data, store, mint: true) }
        #expect(again == "--mint-admin-token writes a new \(file), but that file exists; move it away first")
        try await Self.start(data, store)
        #expect(try await store.apiTokens().count == 2)
    }
}
