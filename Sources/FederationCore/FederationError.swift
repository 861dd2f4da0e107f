/// Why a federation computation refused its input. Each case carries what a reader needs to
/// find the bad value (an engineer reading a server log or a CLI message).
public enum FederationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A vector had the wrong number of values.
    case dimensionMismatch(what: String, expected: Int, actual: Int)
    /// A parameter was outside the range where the computation is defined.
    case invalidParameter(name: String, value: Double, requirement: String)
    /// A value was NaN or infinite.
    case nonFiniteValue(what: String)
    /// There was nothing to aggregate or train on.
    case empty(what: String)

    public var description: String {
        switch self {
        case let .dimensionMismatch(what, expected, actual):
            return "\(what) has \(actual) values; expected \(expected)"
        case let .invalidParameter(name, value, requirement):
            return "\(name) = \(value) is invalid: \(requirement)"
        case let .nonFiniteValue(what):
            return "\(what) contains NaN or infinite values"
        case let .empty(what):
            return "no \(what) given"
        }
    }
}
