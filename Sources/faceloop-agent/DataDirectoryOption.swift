import Agent
import ArgumentParser
import FaceVerification
import Foundation

/// The agent's private data directory: keys, certificate, upload queue, enrolled templates.
struct DataDirectoryOption: ParsableArguments {
    static let environmentVariable = "FACELOOP_AGENT_DIR"

    @Option(help: ArgumentHelp(
        "Agent data directory (default: $FACELOOP_AGENT_DIR, else ~/.faceloop-agent).", valueName: "dir"))
    var dataDir: String?

    var url: URL {
        if let dataDir { return URL(fileURLWithPath: dataDir, isDirectory: true) }
        if let path = ProcessInfo.processInfo.environment[Self.environmentVariable], !path.isEmpty {
            return URL(fileURLWithPath: path, isDirectory: true)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".faceloop-agent", isDirectory: true)
    }

    var agent: KioskAgent { KioskAgent(files: AgentFiles(directory: url.path)) }

    func openTemplateStore() throws -> SubjectTemplateStore {
        try SubjectTemplateStore(directory: url)
    }
}
