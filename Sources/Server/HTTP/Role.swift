import Storage

/// What a bearer token lets a person do. Kiosks authenticate with certificates, not roles.
/// `admin` may do everything, so endpoints name only the other roles they admit.
enum Role: String, CaseIterable, Sendable {
    case admin, engineer, compliance

    /// Whether a token of this role may do what `roles` may.
    func permits(_ roles: Set<Role>) -> Bool { self == .admin || roles.contains(self) }

    /// Every role as a refusal lists them: "admin, engineer or compliance".
    static var choices: String {
        allCases.dropLast().map(\.rawValue).joined(separator: ", ") + " or " + (allCases.last?.rawValue ?? "")
    }
}

extension APITokenRecord {
    /// The token's role; nil for a role this server does not know, which may do nothing.
    var grantedRole: Role? { Role(rawValue: role) }

    /// Whether the token may do what `roles` may.
    func may(_ roles: Set<Role>) -> Bool { grantedRole?.permits(roles) ?? false }
}
