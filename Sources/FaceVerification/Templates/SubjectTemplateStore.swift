import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Enrolled face templates, kept on the kiosk only and encrypted at rest: each subject's
/// template is one file sealed with AES-256-GCM (the subject ID bound in as associated
/// data, so files cannot be swapped between subjects) under a key file that only the agent's
/// user can read (mode 0600, created on first use).
///
/// ```swift
/// let store = try SubjectTemplateStore(directory: dataDirectory)
/// try store.enroll(SubjectTemplate(subjectID: "s-1042", descriptor: d, modelVersion: v, enrolledAt: .now))
/// let template = try store.template(for: "s-1042")
/// ```
public struct SubjectTemplateStore {
    public static let keyFileName = "template-key"
    public static let templatesFolderName = "templates"
    private static let fileExtension = "sealed"

    public let directory: URL
    private let key: SymmetricKey

    private var templatesDirectory: URL { directory.appendingPathComponent(Self.templatesFolderName, isDirectory: true) }

    /// Opens (or creates) the store in `directory`, creating the key file if absent.
    public init(directory: URL) throws {
        self.directory = directory
        try Self.createPrivateDirectory(directory)
        try Self.createPrivateDirectory(directory.appendingPathComponent(Self.templatesFolderName, isDirectory: true))
        key = try Self.loadOrCreateKey(at: directory.appendingPathComponent(Self.keyFileName))
    }

    /// 1–64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit, so an ID
    /// is always a plain file name inside the store.
    public static func isValidSubjectID(_ id: String) -> Bool {
        func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
        }
        guard (1...64).contains(id.unicodeScalars.count), let first = id.unicodeScalars.first, isAlphanumeric(first) else {
            return false
        }
        return id.unicodeScalars.allSatisfy { isAlphanumeric($0) || ".-_".unicodeScalars.contains($0) }
    }

    /// Stores (or replaces) a subject's template.
    public func enroll(_ template: SubjectTemplate) throws {
        let url = try fileURL(for: template.subjectID)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let sealed = try AES.GCM.seal(try encoder.encode(template), using: key,
                                      authenticating: Data(template.subjectID.utf8))
        guard let combined = sealed.combined else {
            throw SubjectTemplateStoreError.io(path: url.path, reason: "sealing produced no output")
        }
        try Self.writePrivateFile(combined, to: url)
    }

    public func template(for subjectID: String) throws -> SubjectTemplate {
        let url = try fileURL(for: subjectID)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw SubjectTemplateStoreError.subjectNotFound(subjectID)
        }
        let sealed: Data
        do { sealed = try Data(contentsOf: url) } catch {
            throw SubjectTemplateStoreError.io(path: url.path, reason: error.localizedDescription)
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            let plain = try AES.GCM.open(box, using: key, authenticating: Data(subjectID.utf8))
            let template = try decoder.decode(SubjectTemplate.self, from: plain)
            guard template.subjectID == subjectID else { throw SubjectTemplateStoreError.templateUnreadable(subjectID: subjectID) }
            return template
        } catch {
            throw SubjectTemplateStoreError.templateUnreadable(subjectID: subjectID)
        }
    }

    /// IDs of the enrolled subjects, sorted.
    public func subjectIDs() throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: templatesDirectory.path) } catch {
            throw SubjectTemplateStoreError.io(path: templatesDirectory.path, reason: error.localizedDescription)
        }
        return names.filter { $0.hasSuffix("." + Self.fileExtension) }
            .map { String($0.dropLast(Self.fileExtension.count + 1)) }
            .filter(Self.isValidSubjectID)
            .sorted()
    }

    /// Deletes a subject's template; throws `subjectNotFound` if there is none.
    public func remove(subjectID: String) throws {
        let url = try fileURL(for: subjectID)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw SubjectTemplateStoreError.subjectNotFound(subjectID)
        }
        do { try FileManager.default.removeItem(at: url) } catch {
            throw SubjectTemplateStoreError.io(path: url.path, reason: error.localizedDescription)
        }
    }

    private func fileURL(for subjectID: String) throws -> URL {
        guard Self.isValidSubjectID(subjectID) else { throw SubjectTemplateStoreError.invalidSubjectID(subjectID) }
        return templatesDirectory.appendingPathComponent("\(subjectID).\(Self.fileExtension)")
    }

    private static func createPrivateDirectory(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw SubjectTemplateStoreError.io(path: url.path, reason: error.localizedDescription)
        }
    }

    /// Reads the 32-byte key, refusing one that other users could read; creates it (0600,
    /// never world-readable even for a moment) when absent.
    private static func loadOrCreateKey(at url: URL) throws -> SymmetricKey {
        if FileManager.default.fileExists(atPath: url.path) {
            let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
            let permissions = (attributes?[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
            guard permissions & 0o077 == 0 else {
                throw SubjectTemplateStoreError.insecureKeyFile(path: url.path, reason: String(format: "its mode is %03o, expected 600", permissions))
            }
            guard let data = try? Data(contentsOf: url), data.count == 32 else {
                throw SubjectTemplateStoreError.insecureKeyFile(path: url.path, reason: "it is not a 32-byte key")
            }
            return SymmetricKey(data: data)
        }
        let key = SymmetricKey(size: .bits256)
        try writePrivateFile(key.withUnsafeBytes { Data($0) }, to: url)
        return key
    }

    /// Writes through a temporary file created with mode 0600, then renames it into place.
    private static func writePrivateFile(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString)")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw SubjectTemplateStoreError.io(path: temporary.path, reason: String(cString: strerror(errno)))
        }
        let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == data.count, synced == 0, rename(temporary.path, url.path) == 0 else {
            unlink(temporary.path)
            throw SubjectTemplateStoreError.io(path: url.path, reason: "could not write the file")
        }
    }
}
