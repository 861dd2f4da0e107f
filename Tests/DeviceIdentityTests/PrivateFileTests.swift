import DeviceIdentity
import Foundation
import TestSupport
import Testing

@Suite("Private files")
struct PrivateFileTests {
    static func directory() throws -> (String, () -> Void) {
        let path = try temporaryDirectory("private")
        return (path, { try? FileManager.default.removeItem(atPath: path) })
    }

    static func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test("a created file has its mode from the start and leaves no temporary behind")
    func create() throws {
        let (directory, cleanup) = try Self.directory()
        defer { cleanup() }
        let key = directory + "/a.key", certificate = directory + "/a.crt"
        try PrivateFile.create(Data("secret\n".utf8), at: key)
        try PrivateFile.create(Data("public\n".utf8), at: certificate, mode: 0o644)
        #expect(try Self.mode(key) == 0o600)
        #expect(try Self.mode(certificate) == 0o644)
        #expect(try String(contentsOfFile: key, encoding: .utf8) == "secret\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["a.crt", "a.key"])
    }

    @Test("create refuses whatever is already at the path — a file or a link — and writes nothing through it")
    func createRefusesPlanted() throws {
        let (directory, cleanup) = try Self.directory()
        defer { cleanup() }
        let planted = directory + "/planted.key"
        try Data("theirs".utf8).write(to: URL(fileURLWithPath: planted))
        #expect(throws: PrivateFile.Error.exists(path: planted)) { try PrivateFile.create(Data("mine".utf8), at: planted) }
        #expect(try String(contentsOfFile: planted, encoding: .utf8) == "theirs")

        let link = directory + "/link.key", target = directory + "/elsewhere"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        #expect(throws: PrivateFile.Error.exists(path: link)) { try PrivateFile.create(Data("mine".utf8), at: link) }
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["link.key", "planted.key"])
    }

    @Test("replace swaps a link at the path for a file of its own; the link's target is untouched")
    func replace() throws {
        let (directory, cleanup) = try Self.directory()
        defer { cleanup() }
        let target = directory + "/target", path = directory + "/model.json"
        try Data("target".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: target)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        try PrivateFile.replace(Data("new".utf8), at: path)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "target")
        #expect(try Self.mode(target) == 0o644)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == nil)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new")
        #expect(try Self.mode(path) == 0o600)
        try PrivateFile.replace(Data("newer".utf8), at: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "newer")
    }

    @Test("requirePrivate passes 0600 and 0400 and refuses any group or other bit, also behind a link")
    func requirePrivate() throws {
        let (directory, cleanup) = try Self.directory()
        defer { cleanup() }
        let path = directory + "/x.key"
        try PrivateFile.create(Data("k".utf8), at: path)
        try PrivateFile.requirePrivate(path)
        try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: path)
        try PrivateFile.requirePrivate(path)
        for mode in [0o640, 0o604, 0o620, 0o601, 0o644] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            #expect(throws: PrivateFile.Error.exposed(path: path, mode: mode)) { try PrivateFile.requirePrivate(path) }
        }
        let link = directory + "/link.key"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        #expect(throws: PrivateFile.Error.exposed(path: link, mode: 0o644)) { try PrivateFile.requirePrivate(link) }
    }
}
