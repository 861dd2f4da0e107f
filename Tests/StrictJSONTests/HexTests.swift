import Crypto
@testable import StrictJSON
import Testing

@Suite("Lowercase hex")
struct HexTests {
    @Test("SHA-256 of \"abc\" (FIPS 180-2 example) and edge bytes")
    func knownAnswers() {
        #expect(SHA256.hash(data: Array("abc".utf8)).lowercaseHex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect([UInt8]([0x00, 0x0f, 0xf0, 0xff]).lowercaseHex == "000ff0ff")
        #expect([UInt8]().lowercaseHex.isEmpty)
    }
}
