import FaceVerification
import Foundation
import TestSupport
import Testing

@Suite("Subject template store")
struct SubjectTemplateStoreTests {
    private let directory = URL(fileURLWithPath: temporaryPath("templates"))
    private let template = SubjectTemplate(
        subjectID: "subject-1", descriptor: (0..<128).map { Float($0) / 128 },
        modelVersion: FaceVerifier.baseModelVersion, enrolledAt: Date(timeIntervalSince1970: 1_790_000_000)
    )

    private func permissions(_ url: URL) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber).intValue
    }

    @Test("enrol, read back, list and remove")
    func roundTrip() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SubjectTemplateStore(directory: directory)
        try store.enroll(template)
        #expect(try store.template(for: "subject-1") == template)
        #expect(try store.subjectIDs() == ["subject-1"])
        // A second handle on the same directory reads the same key.
        #expect(try SubjectTemplateStore(directory: directory).template(for: "subject-1") == template)
        try store.remove(subjectID: "subject-1")
        #expect(try store.subjectIDs().isEmpty)
        #expect(throws: SubjectTemplateStoreError.subjectNotFound("subject-1")) { try store.template(for: "subject-1") }
        #expect(throws: SubjectTemplateStoreError.subjectNotFound("subject-1")) { try store.remove(subjectID: "subject-1") }
    }

    @Test("the key file is private and templates are not stored in the clear")
    func encryptedAtRest() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SubjectTemplateStore(directory: directory)
        try store.enroll(template)
        #expect(try permissions(directory.appendingPathComponent(SubjectTemplateStore.keyFileName)) == 0o600)
        let file = directory.appendingPathComponent("templates/subject-1.sealed")
        #expect(try permissions(file) == 0o600)
        let bytes = try Data(contentsOf: file)
        #expect(bytes.range(of: Data("descriptor".utf8)) == nil)
        #expect(bytes.range(of: Data(FaceVerifier.baseModelVersion.utf8)) == nil)
    }

    @Test("an altered or swapped template fails authentication")
    func tampering() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SubjectTemplateStore(directory: directory)
        try store.enroll(template)
        var other = template
        other.subjectID = "subject-2"
        try store.enroll(other)
        let first = directory.appendingPathComponent("templates/subject-1.sealed")
        let second = directory.appendingPathComponent("templates/subject-2.sealed")
        // Swapping files between subjects is caught by the associated data.
        try FileManager.default.removeItem(at: second)
        try FileManager.default.copyItem(at: first, to: second)
        #expect(throws: SubjectTemplateStoreError.templateUnreadable(subjectID: "subject-2")) { try store.template(for: "subject-2") }
        var bytes = try Data(contentsOf: first)
        bytes[bytes.startIndex + 20] ^= 0x01
        try bytes.write(to: first)
        #expect(throws: SubjectTemplateStoreError.templateUnreadable(subjectID: "subject-1")) { try store.template(for: "subject-1") }
    }

    @Test("a key file readable by others is refused")
    func insecureKey() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try SubjectTemplateStore(directory: directory)
        let key = directory.appendingPathComponent(SubjectTemplateStore.keyFileName)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: key.path)
        #expect(throws: SubjectTemplateStoreError.self) { try SubjectTemplateStore(directory: directory) }
    }

    @Test("subject IDs cannot leave the store", arguments: ["", "../x", "a/b", ".hidden", String(repeating: "a", count: 65), "é"])
    func invalidIDs(id: String) throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(!SubjectTemplateStore.isValidSubjectID(id))
        let store = try SubjectTemplateStore(directory: directory)
        #expect(throws: SubjectTemplateStoreError.invalidSubjectID(id)) { try store.template(for: id) }
    }
}
