import ArgumentParser
import FaceVerification
import Foundation

/// `faceloop-agent subjects …`: local enrolment of subjects' templates, encrypted at rest.
struct SubjectCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subjects",
        abstract: "Enrol, list and remove subjects' face templates on this kiosk.",
        subcommands: [Enroll.self, List.self, Remove.self]
    )

    struct Enroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enrol (or re-enrol) a subject from an image.")

        @OptionGroup var models: ModelOptions
        @OptionGroup var dataDirectory: DataDirectoryOption

        @Option(help: "Subject ID (1–64 letters, digits, '.', '_', '-').")
        var id: String

        @Argument(help: "JPEG image of the subject.")
        var image: String

        func validate() throws {
            guard SubjectTemplateStore.isValidSubjectID(id) else {
                throw ValidationError(SubjectTemplateStoreError.invalidSubjectID(id).description)
            }
        }

        func run() async throws {
            let store = try dataDirectory.openTemplateStore()
            let analysis = try models.loadPipeline().analyze(jpeg: try readImageFile(image))
            guard let face = analysis.primaryFace else {
                throw ValidationError("\(image): \(FaceVerificationError.noFaceFound)")
            }
            try store.enroll(SubjectTemplate(subjectID: id, descriptor: face.descriptor,
                                             modelVersion: FaceVerifier.baseModelVersion, enrolledAt: Date()))
            print("enrolled \(id) (face \(face.quality.faceSizePixels) px)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List enrolled subjects.")

        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() async throws {
            let store = try dataDirectory.openTemplateStore()
            for id in try store.subjectIDs() {
                let template = try store.template(for: id)
                print("\(id)\tenrolled \(template.enrolledAt.formatted(.iso8601))\t\(template.modelVersion)")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a subject's template.")

        @OptionGroup var dataDirectory: DataDirectoryOption

        @Option(help: "Subject ID.")
        var id: String

        func run() async throws {
            try dataDirectory.openTemplateStore().remove(subjectID: id)
            print("removed \(id)")
        }
    }
}
