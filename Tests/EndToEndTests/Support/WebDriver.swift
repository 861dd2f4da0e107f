import AsyncHTTPClient
import ChildProcess
import FeedbackWire
import Foundation
import NIOCore
import NIOPosix
import StrictJSON

/// Headless Chromium driven over WebDriver: plain HTTP and JSON to a chromedriver process on
/// 127.0.0.1, which the test starts and stops by its process id.
final class HeadlessChromium: @unchecked Sendable {
    static let chromium = ["/usr/bin/chromium", "/usr/lib/chromium/chromium"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var isInstalled: Bool { chromium != nil && chromedriver != nil }
    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    struct LogEntry: Sendable {
        let level: String
        let message: String
    }

    private let driver: ChildProcess
    private let base: String
    private let client: HTTPClient
    private var session = ""

    private init(driver: ChildProcess, port: Int) {
        self.driver = driver
        base = "http://127.0.0.1:\(port)"
        client = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    /// Starts chromedriver and one headless browser session that accepts the server's
    /// self-signed certificate (this test's server only) and keeps the console log.
    static func start(logFile: String) async throws -> HeadlessChromium {
        guard let chromium, let chromedriver else { throw Failure(description: "chromium and chromedriver are not installed") }
        let port = try await freePort()
        let driver = try ChildProcess(executable: chromedriver, arguments: ["--port=\(port)", "--allowed-ips=127.0.0.1"],
                                      standardOutput: logFile, standardError: logFile)
        let browser = HeadlessChromium(driver: driver, port: port)
        do {
            let deadline = Date().addingTimeInterval(30)
            while try await browser.ready() == false {
                guard Date() < deadline, driver.isRunning else { throw Failure(description: "chromedriver did not start") }
                try await Task.sleep(for: .milliseconds(100))
            }
            let options: JSONValue = .object([
                ("binary", .string(chromium)),
                // --no-sandbox: CI runs the tests as root, where Chromium's sandbox cannot start.
                ("args", .array(["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                                 "--window-size=1280,1400", "--lang=en-US"].map(JSONValue.string))),
            ])
            let capabilities: JSONValue = .object([("capabilities", .object([("alwaysMatch", .object([
                ("browserName", .string("chrome")), ("acceptInsecureCerts", .bool(true)), ("goog:chromeOptions", options),
                ("goog:loggingPrefs", .object([("browser", .string("ALL"))])),
            ]))]))])
            let answer = try await browser.call("POST", "/session", capabilities)
            guard let id = answer["value"]?["sessionId"]?.stringValue else { throw Failure(description: "no session: \(answer.serializedString)") }
            browser.session = id
            return browser
        } catch {
            await browser.quit()
            throw error
        }
    }

    private static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }

    private func ready() async throws -> Bool {
        do {
            return try await call("GET", "/status")["value"]?["ready"] == .bool(true)
        } catch is HTTPClientError {
            return false
        }
    }

    /// Ends the browser session, then chromedriver: asked to shut down (it ignores SIGTERM),
    /// and killed by its process id if it is still there after five seconds.
    func quit() async {
        if !session.isEmpty { _ = try? await call("DELETE", "/session/\(session)") }
        _ = try? await call("GET", "/shutdown")
        let deadline = Date().addingTimeInterval(5)
        while driver.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if driver.isRunning { driver.send(SIGKILL) }
        _ = driver.wait()
        try? await client.shutdown()
    }

    // MARK: Commands

    func open(_ url: String) async throws {
        _ = try await command("POST", "url", .object([("url", .string(url))]))
    }

    func currentURL() async throws -> String {
        try await command("GET", "url").stringValue ?? ""
    }

    func resize(width: Int, height: Int) async throws {
        _ = try await command("POST", "window/rect", .object([("width", .number(Double(width))), ("height", .number(Double(height)))]))
    }

    /// Element ids matching a CSS selector, in document order, optionally inside an element.
    func find(_ selector: String, in parent: String? = nil) async throws -> [String] {
        let path = parent.map { "element/\($0)/elements" } ?? "elements"
        let found = try await command("POST", path, .object([("using", .string("css selector")), ("value", .string(selector))]))
        return found.arrayValue?.compactMap { $0[Self.elementKey]?.stringValue } ?? []
    }

    /// The one element matching `selector`; fails when there is none.
    func element(_ selector: String, in parent: String? = nil) async throws -> String {
        guard let first = try await find(selector, in: parent).first else { throw Failure(description: "no element matches \(selector)") }
        return first
    }

    func text(_ element: String) async throws -> String {
        try await command("GET", "element/\(element)/text").stringValue ?? ""
    }

    /// The visible text of the one element matching `selector`.
    func text(of selector: String, in parent: String? = nil) async throws -> String {
        try await text(try await element(selector, in: parent))
    }

    func attribute(_ name: String, of element: String) async throws -> String? {
        try await command("GET", "element/\(element)/attribute/\(name)").stringValue
    }

    func click(_ element: String) async throws {
        _ = try await command("POST", "element/\(element)/click", .object([]))
    }

    func type(_ text: String, into element: String) async throws {
        _ = try await command("POST", "element/\(element)/clear", .object([]))
        _ = try await command("POST", "element/\(element)/value", .object([("text", .string(text))]))
    }

    func screenshot() async throws -> Data {
        guard let encoded = try await command("GET", "screenshot").stringValue, let png = Data(base64Encoded: encoded) else {
            throw Failure(description: "no screenshot")
        }
        return png
    }

    /// The console messages since the last call (chromedriver empties its buffer on reading).
    func consoleLog() async throws -> [LogEntry] {
        try await command("POST", "se/log", .object([("type", .string("browser"))])).arrayValue?.map {
            LogEntry(level: $0["level"]?.stringValue ?? "", message: $0["message"]?.stringValue ?? "")
        } ?? []
    }

    private func command(_ method: String, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue {
        let answer = try await call(method, "/session/\(session)/\(path)", body)
        if let error = answer["value"]?["error"]?.stringValue {
            throw Failure(description: "\(method) \(path): \(error): \(answer["value"]?["message"]?.stringValue ?? "")")
        }
        return answer["value"] ?? .null
    }

    private func call(_ method: String, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue {
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method)
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.serialized()))
        }
        let response = try await client.execute(request, timeout: .seconds(60))
        var buffer = try await response.body.collect(upTo: 64 << 20)
        return try JSONValue.parse(buffer.readBytes(length: buffer.readableBytes) ?? [])
    }
}
