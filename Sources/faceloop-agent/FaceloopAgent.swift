import Agent
import ArgumentParser

@main
struct FaceloopAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faceloop-agent",
        abstract: "The FaceLoop kiosk agent: records match outcomes and uploads them in signed batches.",
        discussion: "State lives in --data-dir, else $FACELOOP_AGENT_DIR, else ~/.faceloop-agent.",
        subcommands: [EnrollCommand.self, RecordCommand.self, UploadCommand.self, StatusCommand.self, ThresholdsCommand.self])
}

struct AgentDirectoryOption: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The agent's state directory.")
    var dataDirectory: String?

    var agent: KioskAgent { KioskAgent(files: .resolve(dataDirectory)) }
}
