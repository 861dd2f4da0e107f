import Foundation

/// Which OpenBLAS kernel this CPU should run. OpenBLAS does not recognise every Xeon and then
/// falls back to a generic kernel several times slower; it reads `OPENBLAS_CORETYPE` only
/// when the library loads, so the process cannot fix it for itself, only say how to start.
/// `scripts/openblas-coretype.sh` applies the same rule to the scripts (a test keeps the two
/// in step).
public enum BLASKernelAdvice {
    /// SkylakeX when the CPU has AVX-512 Foundation, Haswell when it has AVX2, otherwise nil:
    /// leave OpenBLAS's own choice.
    public static func recommendedCoreType(cpuFlags: Set<String>) -> String? {
        if cpuFlags.contains("avx512f") { return "SkylakeX" }
        if cpuFlags.contains("avx2") { return "Haswell" }
        return nil
    }

    /// The flags of the first processor in `/proc/cpuinfo` text.
    public static func cpuFlags(cpuinfo: String) -> Set<String> {
        for line in cpuinfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == "flags" else { continue }
            return Set(parts[1].split(separator: " ").map(String.init))
        }
        return []
    }

    /// Kernels at least as fast as the recommended one: a newer CPU's own kernel is no reason
    /// to advise anything.
    static let adequateKernels: [String: Set<String>] = [
        "skylakex": ["skylakex", "cooperlake", "sapphirerapids"],
        "haswell": ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"],
    ]

    /// The agent's start-up line: the kernel in use and, when it is slower than this CPU
    /// allows and nobody chose it, the variable to set.
    public static func startupMessage(kernel: String, configuredCoreType: String?, cpuinfo: String?) -> String {
        var message = "OpenBLAS kernel \(kernel)"
        if let configuredCoreType, !configuredCoreType.isEmpty {
            return message + " (OPENBLAS_CORETYPE=\(configuredCoreType))"
        }
        guard let cpuinfo, let recommended = recommendedCoreType(cpuFlags: cpuFlags(cpuinfo: cpuinfo)) else { return message }
        let adequate = adequateKernels[recommended.lowercased()] ?? [recommended.lowercased()]
        if !adequate.contains(kernel.lowercased()) {
            let feature = recommended == "SkylakeX" ? "AVX-512" : "AVX2"
            message += "; this CPU has \(feature): start with OPENBLAS_CORETYPE=\(recommended) for the fast kernel"
        }
        return message
    }

    /// `startupMessage` for this process: its environment and this machine's `/proc/cpuinfo`.
    public static var startupMessageForThisProcess: String {
        startupMessage(kernel: FacePipeline.blasCoreName,
                       configuredCoreType: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"],
                       cpuinfo: try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))
    }
}
