#if os(Linux)
import Foundation
import Glibc
@testable import Storage
import Testing

/// SQLite's writer runs its transactions at a raised priority when the process may raise it
/// (as root, as the CI runs, or with CAP_SYS_NICE), and hands its pool thread back as it was.
@Suite("Writer priority")
struct WriterPriorityTests {
    typealias Contract = FeedbackStoreTests

    private static func niceness() -> Int32 {
        getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
    }

    struct Thrown: Error {}

    @Test("the body runs raised when the process may raise it, and the thread gets its priority back, after a throw too")
    func raisedAndRestored() throws {
        let before = Self.niceness()
        let inside = WriterPriority.run { _ in Self.niceness() }
        #expect(inside == (WriterPriority.isAvailable ? WriterPriority.niceness : before))
        #expect(Self.niceness() == before)
        #expect(throws: Thrown.self) {
            try WriterPriority.run { _ in
                #expect(Self.niceness() == (WriterPriority.isAvailable ? WriterPriority.niceness : before))
                throw Thrown()
            }
        }
        #expect(Self.niceness() == before)
    }

    @Test("root may raise it: the CI runs the tests as root, so this is where the raise is proved")
    func availableToRoot() {
        guard getuid() == 0 else { return }
        #expect(WriterPriority.isAvailable)
        #expect(SQLiteStore.raisesWriterPriority)
    }

    @Test("the group commit stores its batches at the raised priority when it may, and at the thread's own otherwise")
    func groupCommitRaised() async throws {
        let directory = NSTemporaryDirectory() + "writer-priority-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: (directory as NSString).appendingPathComponent("store.sqlite"))
        try await Contract.enrolled(store, "kiosk-w0")
        for sequence in 1...3 {
            let answer = try await store.storeBatch(Contract.incoming("kiosk-w0", sequence: Int64(sequence), outcomes: [Contract.outcome()]))
            guard case .stored = answer else { Issue.record("batch \(sequence): \(answer)"); return }
        }
        let raised = store.intake.raisedGroups.load(ordering: .relaxed)
        #expect(WriterPriority.isAvailable ? raised >= 1 : raised == 0)
    }
}
#endif
