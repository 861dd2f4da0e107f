import Foundation
import Server
import Testing

@Suite("Federation configuration")
struct FederationConfigurationTests {
    @Test("budget, δ, accountant and evaluation set come from the file and the environment; bad values are refused")
    func federationKeys() async throws {
        let file = ServerConfigurationTests.exampleFile
        let fromFile = try await ServerConfiguration.load(file: file, overrides: [:], environment: [:])
        #expect(fromFile.federationEpsilonBudget == 8)
        #expect(fromFile.federationDelta == 1e-6)
        #expect(fromFile.federationAccountant == "rdp")
        #expect(fromFile.federationEvaluationPairs == "data/evaluation-pairs.json")
        let fromEnvironment = try await ServerConfiguration.load(
            file: file, overrides: [:],
            environment: ["FACELOOP_FEDERATION_EPSILON_BUDGET": "2.5", "FACELOOP_FEDERATION_ACCOUNTANT": "pld"])
        #expect(fromEnvironment.federationEpsilonBudget == 2.5)
        #expect(fromEnvironment.federationAccountant == "pld")
        for (key, value) in [("FACELOOP_FEDERATION_ACCOUNTANT", "moments"), ("FACELOOP_FEDERATION_DELTA", "0.5"),
                             ("FACELOOP_FEDERATION_EPSILON_BUDGET", "-1"), ("FACELOOP_FEDERATION_MINIMUM_PAIRS", "lots")] {
            await #expect(throws: ServerConfiguration.LoadError.self, "\(key)=\(value)") {
                _ = try await ServerConfiguration.load(file: file, overrides: [:], environment: [key: value])
            }
        }
    }
}
