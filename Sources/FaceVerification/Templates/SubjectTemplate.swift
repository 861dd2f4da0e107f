import Foundation

/// A subject's enrolled face template as kept on the kiosk: the raw dlib descriptor (the
/// adapter is applied at comparison time) and when and with which model it was made.
public struct SubjectTemplate: Sendable, Equatable, Codable {
    public var subjectID: String
    public var descriptor: [Float]
    public var modelVersion: String
    public var enrolledAt: Date

    public init(subjectID: String, descriptor: [Float], modelVersion: String, enrolledAt: Date) {
        self.subjectID = subjectID
        self.descriptor = descriptor
        self.modelVersion = modelVersion
        self.enrolledAt = enrolledAt
    }
}

/// Why the template store refused a request.
public enum SubjectTemplateStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidSubjectID(String)
    case subjectNotFound(String)
    /// The file failed authentication: altered, truncated or sealed under another key.
    case templateUnreadable(subjectID: String)
    /// The key file can be read by other users, or is not a 32-byte key.
    case insecureKeyFile(path: String, reason: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidSubjectID(let id):
            return "Subject ID \"\(id)\" is not allowed: use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit."
        case .subjectNotFound(let id):
            return "No template is enrolled for subject \"\(id)\"."
        case .templateUnreadable(let id):
            return "The template of subject \"\(id)\" failed authentication (altered, or sealed under another key)."
        case .insecureKeyFile(let path, let reason):
            return "Refusing the template key \(path): \(reason)."
        case .io(let path, let reason):
            return "Cannot access \(path): \(reason)"
        }
    }
}
