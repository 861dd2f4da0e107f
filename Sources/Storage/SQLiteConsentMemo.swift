import GRDB
import Synchronization

/// The consent state that earlier batches read, kept on the writer for the batches after them:
/// the subjects' consent records, whether a limit holds their outcomes out of the score
/// statistics, and the current key versions of their sites. A kiosk's subjects come back batch
/// after batch, and reading each one's consent records again for every batch was the largest
/// single cost of storing one; reading their limits again took about a twentieth of the
/// writer's time.
///
/// The memo is dropped whenever what it was read from may have changed, so a decision made
/// from it is the one a fresh read would give:
/// - any row of `consent_events`, `erasures`, `consent_texts`, `sites` or `jurisdiction_keys`
///   written through this connection (SQLite's update hook, through GRDB; inside a savepoint
///   GRDB reports the change when the savepoint is released, and a rolled-back savepoint
///   changed nothing);
/// - any transaction rolled back, since rows read inside it may have been its own;
/// - a commit by another connection to the file (`PRAGMA data_version` moved);
/// - more subjects than `largestMemo`, or more sets of sites than `largestKeyVersionSets`, so
///   memory stays bounded on a store of many subjects.
///
/// A batch takes the memo before it records its consent events, so that recording them does
/// not drop it; it adds each event put in force to the records it holds of the subject
/// (`ConsentCache.recorded`), and reads again whether the subjects named are restricted. Stored without a
/// savepoint, the batch's changes are reported as they are made, to an empty memo, and a
/// failure after them rolls the whole transaction back, which drops what the batch kept.
/// Stored in a savepoint (a group stored again), they are reported when the savepoint is
/// released, after the batch kept its memo, which they drop; a savepoint rolled back reports
/// nothing, and the batch refused in it kept nothing.
final class SQLiteConsentMemo: TransactionObserver, Sendable {
    struct Memo {
        var consent = ConsentCache()
        /// Whether each subject read is restricted (`StoreSQL.restrictedSubjects(among:)`).
        var restricted: [String: Bool] = [:]
        /// The current key versions of a batch's sites, by the sorted sites: read for every
        /// batch, they were about a twentieth of the writer's time, and change only with a
        /// site's jurisdiction or a key rotation.
        var keyVersions: [[String]: KeyVersions] = [:]
    }

    private struct State {
        var memo = Memo()
        var dataVersion: Int?
    }

    static let observedTables: Set<String> = ["consent_events", "erasures", "consent_texts", "sites", "jurisdiction_keys"]
    /// Kept through batches with consent events too, the memo fills with every subject a fleet
    /// shows, at about a third of a KiB per subject and purpose: 2,048 subjects hold it near
    /// a MiB, where 50,000 grew the server's memory by 7 % in the 45-second soak, and more
    /// on a faster machine (docs/reliability.md, "Memory soak").
    static let largestMemo = 2_048
    /// Kiosks of one fleet name a few sets of sites (all of a batch's outcomes' and events').
    static let largestKeyVersionSets = 256

    private let state = Mutex(State())

    /// The memo to decide with, empty when the file changed under it. Called on the writer.
    func take(in db: Database) throws -> Memo {
        let version = try Int.fetchOne(db.cachedStatement(sql: "PRAGMA data_version"))
        return state.withLock { state in
            if state.dataVersion != version {
                state.memo = Memo()
                state.dataVersion = version
            }
            let memo = state.memo
            state.memo = Memo()
            return memo
        }
    }

    /// Keeps what a batch read (and what it held before) for the next batch.
    func keep(_ memo: Memo) {
        state.withLock { state in
            state.memo = memo.consent.subjectCount > Self.largestMemo || memo.restricted.count > Self.largestMemo
                || memo.keyVersions.count > Self.largestKeyVersionSets ? Memo() : memo
        }
    }

    private func forget() {
        state.withLock { state in state.memo = Memo() }
    }

    // MARK: TransactionObserver

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        Self.observedTables.contains(eventKind.tableName)
    }

    func databaseDidChange(with event: DatabaseEvent) { forget() }

    func databaseDidCommit(_ db: Database) {}

    func databaseDidRollback(_ db: Database) { forget() }
}
