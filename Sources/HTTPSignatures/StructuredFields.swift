import Foundation
import RawStructuredFieldValues

/// The RFC 8941 structured fields that message signatures and `Content-Digest` are written in,
/// read and written by swift-http-structured-headers.
///
/// ```swift
/// let members = try StructuredFields.parseDictionary(#"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"#)
/// ```
///
/// This uses the library's raw layer (`RawStructuredFieldValues`), not its Codable layer:
/// RFC 9421 rebuilds `@signature-params` from the parameters in the order the sender wrote them,
/// including parameters we do not know, and decoding into a Codable struct keeps neither that
/// order nor the unknown keys, while the raw layer's `OrderedMap` keeps both and its serializer
/// writes them back in that order. The raw layer also hands byte sequences over as their base64
/// text, so the signature and the digests are decoded here, under one strict base64 rule.
enum StructuredFields {
    static func parseDictionary(_ fieldValue: String) throws -> OrderedMap<String, ItemOrInnerList> {
        var parser = StructuredFieldValueParser(Array(fieldValue.utf8))
        return try parser.parseDictionaryFieldValue()
    }

    static func serialize(dictionary: OrderedMap<String, ItemOrInnerList>) throws -> String {
        var serializer = StructuredFieldValueSerializer()
        return String(decoding: try serializer.writeDictionaryFieldValue(dictionary), as: UTF8.self)
    }

    /// The library writes only whole fields; a list whose one member is the inner list is
    /// written exactly as that inner list, which is what `@signature-params` needs.
    static func serialize(innerList: InnerList) throws -> String {
        var serializer = StructuredFieldValueSerializer()
        return String(decoding: try serializer.writeListFieldValue([.innerList(innerList)]), as: UTF8.self)
    }

    static func serialize(item: Item) throws -> String {
        var serializer = StructuredFieldValueSerializer()
        return String(decoding: try serializer.writeItemFieldValue(item), as: UTF8.self)
    }

    static func byteSequence(_ bytes: some Sequence<UInt8>) -> RFC9651BareItem {
        .undecodedByteSequence(Data(bytes).base64EncodedString())
    }

    /// The bytes of a byte sequence, or nil for any other item or for text that is not padded base64.
    static func decodedBytes(_ item: RFC9651BareItem) -> [UInt8]? {
        guard case let .undecodedByteSequence(text) = item, let data = Data(base64Encoded: text) else { return nil }
        return [UInt8](data)
    }
}
