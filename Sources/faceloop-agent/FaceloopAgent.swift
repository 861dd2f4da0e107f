import Agent
import ArgumentParser

@main
struct FaceloopAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faceloop-agent",
        abstract: "The FaceLoop kiosk agent: verifies faces locally, records match outcomes and uploads them in signed batches.",
        discussion: "State lives in --data-dir, else $FACELOOP_AGENT_DIR, else ~/.faceloop-agent.",
        subcommands: [EnrollCommand.self, RecordCommand.self, ConsentCommand.self, UploadCommand.self, RenewCommand.self, StatusCommand.self,
                      ThresholdsCommand.self,
                      EmbedCommand.self, VerifyCommand.self, SubjectCommands.self, EvaluateCommand.self,
                      FederationCommand.self, ModelsCommand.self, PseudonymsCommand.self])
}
