/// SQL text that both back ends run as it is (SQLite and PostgreSQL agree on it), kept once.
enum StoreQueries {
    /// A consent event of the subject (first argument) at a site where the kiosk (second
    /// argument) has recorded consent events itself: the subjects a kiosk may ask about.
    static let subjectAtKioskSites = """
        SELECT 1 FROM consent_events c WHERE c.subject_pseudonym = ?
        AND c.site IN (SELECT d.site FROM consent_events d WHERE d.device_id = ?)
        """

    /// What a closed round keeps of each update: digest, signature, receipt (with its norm) and
    /// verdict. The body, un-noised and in the span of the kiosk's training descriptors, goes in
    /// the transaction that closes the round.
    static let setUpdateVerdict = "UPDATE federation_updates SET verdict = ? WHERE round_id = ? AND device_id = ?"
}
