import FeedbackWire
import Foundation
import Testing

/// The receipt the server builds by hand against the `Codable` encoder it replaced: the same
/// bytes for what receipts hold, and the same receipt back for any text a refusal carries.
@Suite("Receipt encoding")
struct BatchReceiptEncodingTests {
    static let stored = Date(timeIntervalSince1970: 1_790_000_000.125)

    static func receipt(refused: [BatchReceipt.RefusedEvent], dropped: Int = 0) -> BatchReceipt {
        BatchReceipt(batchID: UUID(), deviceID: "kiosk-007", sequence: 9_007_199_254_740_991,
                     contentDigest: "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:", acceptedEvents: 98,
                     consentEvents: 3, refusedEvents: refused, shadowScoresDropped: dropped, storedAt: stored)
    }

    @Test("byte for byte what WireJSON's encoder writes", arguments: [0, 1, 3])
    func sameBytes(refusals: Int) throws {
        let refused = (0..<refusals).map {
            BatchReceipt.RefusedEvent(eventID: UUID(), reason: "consent-missing",
                                      detail: "no consent for purpose threshold-calibration in force at 2026-12-07T05:31:41Z (#\($0))")
        }
        let receipt = Self.receipt(refused: refused, dropped: refusals * 2)
        #expect(receipt.encoded() == [UInt8](try WireJSON.encoder().encode(receipt)))
    }

    @Test("text that needs escaping decodes back unchanged")
    func escapes() throws {
        let detail = "quote \" backslash \\ slash / newline \n tab \t bell \u{07} accents é 日本"
        let receipt = Self.receipt(refused: [.init(eventID: UUID(), reason: "key-version", detail: detail)])
        let decoded = try WireJSON.decoder().decode(BatchReceipt.self, from: Data(receipt.encoded()))
        #expect(decoded == receipt)
        #expect(decoded.refusedEvents.first?.detail == detail)
    }
}
