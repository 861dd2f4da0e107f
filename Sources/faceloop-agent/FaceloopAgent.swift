import ArgumentParser

@main
struct FaceloopAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faceloop-agent",
        abstract: "The FaceLoop kiosk agent.",
        subcommands: [EmbedCommand.self, VerifyCommand.self, SubjectCommands.self, EvaluateCommand.self]
    )
}
