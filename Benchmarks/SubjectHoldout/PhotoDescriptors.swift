import FaceVerification
import Foundation

/// One photo's descriptor and whose it is.
struct PhotoDescriptor: Codable {
    var person: String
    var photo: String
    var descriptor: [Float]
}

/// Runs the face pipeline once over every photo of a folder in the LFW layout
/// (DIR/Person/Person_000N.jpg), clean, and caches the descriptors as JSON: computing them is
/// most of a first run.
enum PhotoDescriptors {
    static func load(folder: String, models: String, cache: String) throws -> [PhotoDescriptor] {
        if let data = FileManager.default.contents(atPath: cache) {
            return try JSONDecoder().decode([PhotoDescriptor].self, from: data)
        }
        let pipeline = try FacePipeline(models: ModelDirectory(url: URL(fileURLWithPath: models)))
        FileHandle.standardError.write(Data("OpenBLAS kernel \(FacePipeline.blasCoreName); computing descriptors once into \(cache)\n".utf8))
        let people = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        var descriptors: [PhotoDescriptor] = []
        var faceless: [String] = []
        for (index, person) in people.enumerated() {
            let directory = (folder as NSString).appendingPathComponent(person)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            let photos = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".jpg") }.sorted()
            for photo in photos {
                let path = (directory as NSString).appendingPathComponent(photo)
                guard let bytes = FileManager.default.contents(atPath: path) else {
                    throw ValidationFailure("cannot read \(path)")
                }
                guard let face = try pipeline.analyze(jpeg: [UInt8](bytes)).primaryFace else {
                    faceless.append(path)
                    continue
                }
                descriptors.append(PhotoDescriptor(person: person, photo: photo, descriptor: face.descriptor))
            }
            if index % 20 == 19 { FileHandle.standardError.write(Data("  \(index + 1)/\(people.count) people\n".utf8)) }
        }
        if !faceless.isEmpty {
            FileHandle.standardError.write(Data("no face found in \(faceless.count) photo(s): \(faceless.prefix(5).joined(separator: ", "))\n".utf8))
        }
        try JSONEncoder().encode(descriptors).write(to: URL(fileURLWithPath: cache))
        return descriptors
    }
}

struct ValidationFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
