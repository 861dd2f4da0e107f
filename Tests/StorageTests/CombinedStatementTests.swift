import Testing
@testable import Storage

@Suite("Data-modifying statements sent as one (PostgreSQL)")
struct CombinedStatementTests {
    static let first = StoreStatement("INSERT INTO a (x, y) VALUES (?, ?)", "a1", 2)
    static let second = StoreStatement("DELETE FROM b WHERE x IN (?, ?, ?)", "b1", "b2", "b3")
    static let third = StoreStatement("INSERT INTO c (x) VALUES (?) ON CONFLICT (x) DO UPDATE SET n = c.n + 1", 3.5)

    @Test("within the limit: one WITH statement, parts and arguments in order, placeholders numbered through")
    func oneStatement() {
        let combined = StoreStatement.combined([Self.first, Self.second, Self.third], argumentLimit: 10)
        #expect(combined.count == 1)
        #expect(combined.first?.sql == "WITH s0 AS (\(Self.first.sql)), s1 AS (\(Self.second.sql)), s2 AS (\(Self.third.sql)) SELECT 1")
        #expect(combined.first?.arguments == Self.first.arguments + Self.second.arguments + Self.third.arguments)
        let query = PostgresSQL.query(combined[0])
        #expect(query.sql.contains("VALUES ($1, $2)), s1 AS ("))
        #expect(query.sql.contains("IN ($3, $4, $5)"))
        #expect(query.sql.contains("VALUES ($6) ON CONFLICT"))
    }

    @Test("past the limit: a new statement; one part alone is sent as it is")
    func groups() {
        let combined = StoreStatement.combined([Self.first, Self.second, Self.third], argumentLimit: 4)
        #expect(combined.map(\.arguments.count) == [2, 4])
        #expect(combined.first == Self.first)
        #expect(combined.last?.sql == "WITH s0 AS (\(Self.second.sql)), s1 AS (\(Self.third.sql)) SELECT 1")
        // A part larger than the limit is not split, and goes alone.
        #expect(StoreStatement.combined([Self.second, Self.first], argumentLimit: 1) == [Self.second, Self.first])
        #expect(StoreStatement.combined([], argumentLimit: 10).isEmpty)
    }
}
