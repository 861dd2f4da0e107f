import FaceVerification
import Foundation
import Testing

@Suite("OpenBLAS kernel advice: the agent and the scripts pick the same kernel")
struct BLASKernelAdviceTests {
    /// `/proc/cpuinfo` excerpts: AVX-512, AVX2 only, neither (an old or a non-x86 CPU), and
    /// a flag that merely starts with "avx2" (must not count).
    static let cpus: [(name: String, cpuinfo: String, expected: String?)] = [
        ("avx512", "processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu sse2 avx avx2 avx512f avx512dq\n\nprocessor\t: 1\nflags\t\t: fpu\n", "SkylakeX"),
        ("avx2", "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 bmi2\n", "Haswell"),
        ("neither", "processor\t: 0\nflags\t\t: fpu sse2 sse4_2\n", nil),
        ("lookalike", "processor\t: 0\nflags\t\t: fpu avx2x avx512fx\n", nil),
        ("no flags line", "processor\t: 0\nFeatures\t: fp asimd\n", nil),
    ]

    @Test("CPU flags decide the kernel: avx512f → SkylakeX, avx2 → Haswell, otherwise OpenBLAS's own choice",
          arguments: cpus.indices)
    func recommended(_ index: Int) {
        let cpu = Self.cpus[index]
        #expect(BLASKernelAdvice.recommendedCoreType(cpuFlags: BLASKernelAdvice.cpuFlags(cpuinfo: cpu.cpuinfo)) == cpu.expected, "\(cpu.name)")
    }

    @Test("scripts/openblas-coretype.sh prints what the agent recommends", arguments: cpus.indices)
    func scriptAgrees(_ index: Int) throws {
        let cpu = Self.cpus[index]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cpuinfo-\(UUID().uuidString)")
        try Data(cpu.cpuinfo.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [TestSupport.packageRoot.appendingPathComponent("scripts/openblas-coretype.sh").path, file.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(printed.trimmingCharacters(in: .whitespacesAndNewlines) == (cpu.expected ?? ""), "\(cpu.name)")
    }

    @Test("the start-up message names the variable only when the kernel is slower than the CPU allows and nobody chose it")
    func startupMessage() {
        let avx512 = Self.cpus[0].cpuinfo
        #expect(BLASKernelAdvice.startupMessage(kernel: "Prescott", configuredCoreType: nil, cpuinfo: avx512)
            == "OpenBLAS kernel Prescott; this CPU has AVX-512: start with OPENBLAS_CORETYPE=SkylakeX for the fast kernel")
        #expect(BLASKernelAdvice.startupMessage(kernel: "Haswell", configuredCoreType: nil, cpuinfo: Self.cpus[1].cpuinfo)
            == "OpenBLAS kernel Haswell")
        #expect(BLASKernelAdvice.startupMessage(kernel: "Sandybridge", configuredCoreType: nil, cpuinfo: Self.cpus[1].cpuinfo)
            == "OpenBLAS kernel Sandybridge; this CPU has AVX2: start with OPENBLAS_CORETYPE=Haswell for the fast kernel")
        #expect(BLASKernelAdvice.startupMessage(kernel: "SapphireRapids", configuredCoreType: nil, cpuinfo: avx512)
            == "OpenBLAS kernel SapphireRapids", "a newer kernel OpenBLAS found itself is not second-guessed")
        #expect(BLASKernelAdvice.startupMessage(kernel: "Prescott", configuredCoreType: "Prescott", cpuinfo: avx512)
            == "OpenBLAS kernel Prescott (OPENBLAS_CORETYPE=Prescott)", "a chosen kernel is reported, not overruled")
        #expect(BLASKernelAdvice.startupMessage(kernel: "Prescott", configuredCoreType: nil, cpuinfo: Self.cpus[2].cpuinfo)
            == "OpenBLAS kernel Prescott")
        #expect(BLASKernelAdvice.startupMessage(kernel: "Prescott", configuredCoreType: nil, cpuinfo: nil) == "OpenBLAS kernel Prescott")
    }
}
