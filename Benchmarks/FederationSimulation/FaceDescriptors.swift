import FaceVerification
import Foundation
import SimulatedCapture

/// One photo's descriptor: whose, which of their photos, and under which condition.
struct PhotoDescriptor: Codable {
    var person: String
    var photo: Int
    /// nil for the clean enrollment photo.
    var condition: KioskCondition?
    var descriptor: [Float]
}

/// Runs the face pipeline over the folder (DIR/Person/Person_000N.jpg): photos 1–3 clean (the
/// enrollment templates), photos 4–6 under the condition of the kiosk the person uses (the
/// probes). Cached as JSON, because this is most of the run time.
enum FaceDescriptors {
    static func load(folder: String, models: String, cache: String, condition: (Int) -> KioskCondition) throws -> [PhotoDescriptor] {
        if let data = FileManager.default.contents(atPath: cache) {
            return try JSONDecoder().decode([PhotoDescriptor].self, from: data)
        }
        let pipeline = try FacePipeline(models: ModelDirectory(url: URL(fileURLWithPath: models)))
        let people = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        var descriptors: [PhotoDescriptor] = []
        for (index, person) in people.enumerated() {
            let directory = (folder as NSString).appendingPathComponent(person)
            let photos = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".jpg") }.sorted()
            for (photoIndex, photo) in photos.prefix(6).enumerated() {
                guard let bytes = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(photo)) else { continue }
                var image = try pipeline.decoder.decode([UInt8](bytes))
                let applied: KioskCondition? = photoIndex < 3 ? nil : condition(index)
                if let applied { image = try applied.apply(to: image, noiseSeed: UInt64(index * 10 + photoIndex)) }
                guard let face = try pipeline.analyze(image: image).primaryFace else { continue }
                descriptors.append(PhotoDescriptor(person: person, photo: photoIndex + 1, condition: applied, descriptor: face.descriptor))
            }
            if index % 20 == 19 { FileHandle.standardError.write(Data("  \(index + 1)/\(people.count) people\n".utf8)) }
        }
        try JSONEncoder().encode(descriptors).write(to: URL(fileURLWithPath: cache))
        return descriptors
    }
}
