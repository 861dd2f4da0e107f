import FederationCore
/// The updates of one round, validated and packed row by row into one contiguous
/// `Float` buffer (row = client, column = parameter) so that every aggregator can read them
/// with BLAS or tight loops.
///
/// ```swift
/// let matrix = try UpdateMatrix(updates: [
///     ClientUpdate(clientID: "kiosk-1", update: ModelUpdate(values: delta1, exampleCount: 120)),
///     ClientUpdate(clientID: "kiosk-2", update: ModelUpdate(values: delta2, exampleCount: 80)),
/// ])
/// ```
public struct UpdateMatrix: Sendable {
    public let clientIDs: [String]
    public let exampleCounts: [Int]
    /// Number of clients (rows).
    public let rowCount: Int
    /// Number of parameters (columns).
    public let columnCount: Int
    /// Row-major `rowCount × columnCount` values.
    public let values: [Float]

    public init(updates: [ClientUpdate]) throws {
        guard let first = updates.first else { throw FederationError.empty(what: "client updates") }
        let columns = first.update.values.count
        var values = [Float]()
        values.reserveCapacity(updates.count * columns)
        for client in updates {
            guard client.update.values.count == columns else {
                throw FederationError.dimensionMismatch(
                    what: "update from \(client.clientID)", expected: columns, actual: client.update.values.count)
            }
            values += client.update.values
        }
        try self.init(clientIDs: updates.map(\.clientID), exampleCounts: updates.map(\.update.exampleCount),
                      columnCount: columns, values: values)
    }

    /// Wraps an already packed buffer (as read from a file) without copying it row by row.
    public init(clientIDs: [String], exampleCounts: [Int], columnCount: Int, values: [Float]) throws {
        guard !clientIDs.isEmpty else { throw FederationError.empty(what: "client updates") }
        guard columnCount > 0 else {
            throw FederationError.invalidParameter(name: "update length", value: Double(columnCount), requirement: "must be positive")
        }
        guard exampleCounts.count == clientIDs.count else {
            throw FederationError.dimensionMismatch(what: "example counts", expected: clientIDs.count, actual: exampleCounts.count)
        }
        guard values.count == clientIDs.count * columnCount else {
            throw FederationError.dimensionMismatch(what: "update matrix", expected: clientIDs.count * columnCount, actual: values.count)
        }
        if let bad = exampleCounts.firstIndex(where: { $0 <= 0 }) {
            throw FederationError.invalidParameter(
                name: "example count of \(clientIDs[bad])", value: Double(exampleCounts[bad]), requirement: "must be positive")
        }
        if let badRow = (0..<clientIDs.count).first(where: { row in
            !values[row * columnCount..<(row + 1) * columnCount].allSatisfy(\.isFinite)
        }) {
            throw FederationError.nonFiniteValue(what: "update from \(clientIDs[badRow])")
        }
        self.clientIDs = clientIDs
        self.exampleCounts = exampleCounts
        self.rowCount = clientIDs.count
        self.columnCount = columnCount
        self.values = values
    }

    /// One client's update.
    public func row(_ index: Int) -> ArraySlice<Float> {
        values[index * columnCount..<(index + 1) * columnCount]
    }

    /// L2 norm of each row, accumulated in Double.
    public func rowNorms() -> [Double] {
        values.withUnsafeBufferPointer { buffer in
            (0..<rowCount).map { row in
                var sum = 0.0
                for index in row * columnCount..<(row + 1) * columnCount {
                    let value = Double(buffer[index])
                    sum += value * value
                }
                return sum.squareRoot()
            }
        }
    }
}

/// One client's contribution to a round.
public struct ClientUpdate: Sendable, Codable, Equatable {
    public var clientID: String
    public var update: ModelUpdate

    public init(clientID: String, update: ModelUpdate) {
        self.clientID = clientID
        self.update = update
    }
}
