import Foundation

/// The part of RFC 8941 structured field values that HTTP message signatures and
/// `Content-Digest` use: dictionaries whose members are items or inner lists, with
/// parameters.
public enum StructuredField {
    public enum BareItem: Sendable, Equatable {
        case integer(Int64)
        case decimal(Double)
        case string(String)
        case token(String)
        case bytes([UInt8])
        case bool(Bool)

        func serialized() -> String {
            switch self {
            case let .integer(i): return String(i)
            case let .decimal(d): return String(format: "%.3f", d)
            case let .string(s): return "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
            case let .token(t): return t
            case let .bytes(b): return ":" + Data(b).base64EncodedString() + ":"
            case let .bool(b): return b ? "?1" : "?0"
            }
        }
    }

    public typealias Parameters = [(key: String, value: BareItem)]

    public struct Item: Sendable, Equatable {
        public var value: BareItem
        public var parameters: Parameters

        public init(_ value: BareItem, parameters: Parameters = []) {
            self.value = value
            self.parameters = parameters
        }

        public static func == (a: Item, b: Item) -> Bool {
            a.value == b.value && a.parameters.elementsEqual(b.parameters, by: { $0.key == $1.key && $0.value == $1.value })
        }
    }

    public enum Member: Sendable, Equatable {
        case item(Item)
        case innerList([Item], Parameters)

        public static func == (a: Member, b: Member) -> Bool {
            switch (a, b) {
            case let (.item(x), .item(y)): return x == y
            case let (.innerList(x, p), .innerList(y, q)):
                return x == y && p.elementsEqual(q, by: { $0.key == $1.key && $0.value == $1.value })
            default: return false
            }
        }
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let reason: String
        public var description: String { "invalid structured field: \(reason)" }
    }

    public static func serialize(parameters: Parameters) -> String {
        parameters.map { param in
            if case .bool(true) = param.value { return ";" + param.key }
            return ";" + param.key + "=" + param.value.serialized()
        }.joined()
    }

    public static func serialize(innerList items: [Item], parameters: Parameters) -> String {
        "(" + items.map { $0.value.serialized() + serialize(parameters: $0.parameters) }.joined(separator: " ") + ")"
            + serialize(parameters: parameters)
    }

    /// Parses a dictionary field such as `sig1=("@method" "@path");created=1;keyid="k"`.
    public static func parseDictionary(_ text: String) throws(ParseError) -> [(key: String, value: Member)] {
        var parser = Parser(bytes: Array(text.utf8))
        return try parser.dictionary()
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func fail(_ reason: String) -> ParseError { ParseError(reason: "\(reason) at offset \(i)") }

        mutating func skipSpaces() { while i < bytes.count, bytes[i] == 0x20 { i += 1 } }
        mutating func skipOWS() { while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 } }

        mutating func dictionary() throws(ParseError) -> [(key: String, value: Member)] {
            var members: [(key: String, value: Member)] = []
            skipSpaces()
            while i < bytes.count {
                let name = try key()
                let member: Member
                if i < bytes.count, bytes[i] == UInt8(ascii: "=") {
                    i += 1
                    if i < bytes.count, bytes[i] == UInt8(ascii: "(") {
                        let items = try innerList()
                        member = .innerList(items, try parameters())
                    } else {
                        let value = try bareItem()
                        member = .item(Item(value, parameters: try parameters()))
                    }
                } else {
                    member = .item(Item(.bool(true), parameters: try parameters()))
                }
                if let existing = members.firstIndex(where: { $0.key == name }) { members.remove(at: existing) }
                members.append((name, member))
                skipOWS()
                if i >= bytes.count { break }
                guard bytes[i] == UInt8(ascii: ",") else { throw fail("expected ','") }
                i += 1
                skipOWS()
                guard i < bytes.count else { throw fail("trailing comma") }
            }
            return members
        }

        mutating func key() throws(ParseError) -> String {
            guard i < bytes.count, (bytes[i] >= 0x61 && bytes[i] <= 0x7A) || bytes[i] == UInt8(ascii: "*") else {
                throw fail("expected a key")
            }
            let start = i
            while i < bytes.count {
                let c = bytes[i]
                let ok = (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "_")
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "*")
                guard ok else { break }
                i += 1
            }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        mutating func innerList() throws(ParseError) -> [Item] {
            i += 1
            var items: [Item] = []
            while true {
                skipSpaces()
                guard i < bytes.count else { throw fail("unterminated inner list") }
                if bytes[i] == UInt8(ascii: ")") { i += 1; return items }
                let value = try bareItem()
                items.append(Item(value, parameters: try parameters()))
                guard i < bytes.count, bytes[i] == 0x20 || bytes[i] == UInt8(ascii: ")") else {
                    throw fail("expected ' ' or ')' in inner list")
                }
            }
        }

        mutating func parameters() throws(ParseError) -> Parameters {
            var params: Parameters = []
            while i < bytes.count, bytes[i] == UInt8(ascii: ";") {
                i += 1
                skipSpaces()
                let name = try key()
                var value = BareItem.bool(true)
                if i < bytes.count, bytes[i] == UInt8(ascii: "=") {
                    i += 1
                    value = try bareItem()
                }
                if let existing = params.firstIndex(where: { $0.key == name }) { params.remove(at: existing) }
                params.append((name, value))
            }
            return params
        }

        mutating func bareItem() throws(ParseError) -> BareItem {
            guard i < bytes.count else { throw fail("expected an item") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { return .string(try string()) }
            if c == UInt8(ascii: ":") { return .bytes(try byteSequence()) }
            if c == UInt8(ascii: "?") {
                guard i + 1 < bytes.count else { throw fail("truncated boolean") }
                let v = bytes[i + 1]
                i += 2
                if v == UInt8(ascii: "1") { return .bool(true) }
                if v == UInt8(ascii: "0") { return .bool(false) }
                throw fail("invalid boolean")
            }
            if c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) { return try number() }
            if (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: "*") {
                let start = i
                while i < bytes.count {
                    let t = bytes[i]
                    let ok = t > 0x20 && t < 0x7F && !"\"(),;<=>?@[\\]{}".utf8.contains(t) || t == UInt8(ascii: ":") || t == UInt8(ascii: "/")
                    guard ok else { break }
                    i += 1
                }
                return .token(String(decoding: bytes[start..<i], as: UTF8.self))
            }
            throw fail("unexpected character")
        }

        mutating func string() throws(ParseError) -> String {
            i += 1
            var out: [UInt8] = []
            while i < bytes.count {
                let c = bytes[i]
                i += 1
                if c == UInt8(ascii: "\\") {
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") || bytes[i] == UInt8(ascii: "\\") else {
                        throw fail("invalid escape in string")
                    }
                    out.append(bytes[i])
                    i += 1
                } else if c == UInt8(ascii: "\"") {
                    return String(decoding: out, as: UTF8.self)
                } else if c < 0x20 || c >= 0x7F {
                    throw fail("invalid character in string")
                } else {
                    out.append(c)
                }
            }
            throw fail("unterminated string")
        }

        mutating func byteSequence() throws(ParseError) -> [UInt8] {
            i += 1
            let start = i
            while i < bytes.count, bytes[i] != UInt8(ascii: ":") { i += 1 }
            guard i < bytes.count else { throw fail("unterminated byte sequence") }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            i += 1
            guard let data = Data(base64Encoded: text) else { throw fail("invalid base64 in byte sequence") }
            return [UInt8](data)
        }

        mutating func number() throws(ParseError) -> BareItem {
            let start = i
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            var isDecimal = false
            while i < bytes.count, (bytes[i] >= 0x30 && bytes[i] <= 0x39) || (bytes[i] == UInt8(ascii: ".") && !isDecimal) {
                if bytes[i] == UInt8(ascii: ".") { isDecimal = true }
                i += 1
            }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            guard text.count <= 16 else { throw fail("number too long") }
            if isDecimal, let d = Double(text) { return .decimal(d) }
            if let n = Int64(text) { return .integer(n) }
            throw fail("invalid number")
        }
    }
}
