import Testing

/// Every end-to-end suite runs under this one, one test at a time: they start real server and
/// agent processes and wait for them, and several at once would starve each other of the
/// few threads the test runner has.
@Suite(.serialized) enum EndToEnd {}
