/// The threshold policies a release can be computed with, found by the `name` a release
/// records. A new policy is added here once, and every caller that offers policies by name
/// (the server's compute endpoint, its refusal message) knows it.
///
/// ```swift
/// let policy = ThresholdPolicies.named("exact-at-target") ?? ThresholdPolicies.default
/// ThresholdPolicies.names   // ["conservative", "exact-at-target"]
/// ```
public enum ThresholdPolicies {
    /// Every built-in policy at 95 % confidence; the first is the default.
    public static let all: [any ThresholdPolicy] = {
        do {
            return [try ConservativeFMRPolicy(), try ExactAtTargetPolicy()]
        } catch {
            fatalError("95 % is a valid confidence for the built-in policies: \(error)")
        }
    }()

    /// The policy used when none is named: its threshold's Clopper–Pearson bound meets the target.
    public static var `default`: any ThresholdPolicy { all[0] }

    public static var names: [String] { all.map(\.name) }

    /// The policy recorded as `name`, nil when no policy has that name.
    public static func named(_ name: String) -> (any ThresholdPolicy)? {
        all.first { $0.name == name }
    }
}
