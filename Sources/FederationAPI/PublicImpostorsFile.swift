import Federation
import FederationCore
import Foundation

/// The public impostor set in a JSON file: descriptors of people who are nobody's subject in
/// the fleet, which kiosks train against (`ImpostorTailLoss`). The server's operator ships it
/// to the kiosks with the release bundle; it holds no subject's data, so it needs no consent.
///
/// ```json
/// {"descriptors": [[128 numbers], [128 numbers], …]}
/// ```
public enum PublicImpostorsFile {
    struct Document: Decodable {
        var descriptors: [[Float]]
    }

    public static func read(path: String, dimension: Int = Adapter.faceDescriptorDimension) throws(LabelledPairsFile.Invalid) -> PublicImpostorSet {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LabelledPairsFile.Invalid(description: "cannot read \(path)")
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw LabelledPairsFile.Invalid(description: "\(path) is not a public impostor file ({\"descriptors\": [[…], …]}): \(error)")
        }
        do {
            return try PublicImpostorSet(descriptors: document.descriptors, dimension: dimension)
        } catch {
            throw LabelledPairsFile.Invalid(description: "\(path): \(error)")
        }
    }
}
