import AuditLog
import Crypto
import FeedbackWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Storage
import WebPages

/// The pages for people: fleet, calibration, federation and compliance, served as HTML by
/// the server itself (no external assets: kiosk networks are closed). Each page is built
/// from the same store calls and route logic as the API it mirrors, and shows a role only
/// what that role may read through the API.
struct WebRoutes: Sendable {
    enum Page: String, CaseIterable, Sendable {
        case fleet, calibration, federation, compliance

        /// Who may open the page (admin always may): the roles of the API reads behind it.
        /// Sections inside a page narrow further to their own endpoint's roles.
        var roles: Set<Role> {
            switch self {
            case .fleet, .calibration: [.engineer]
            case .federation: [.engineer, .compliance]
            case .compliance: [.compliance]
            }
        }

        var path: String { "/ui/\(rawValue)" }
        var title: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }
    }

    let store: any FeedbackStore
    let federation: any FederationStore
    let compliance: any ComplianceStore
    let sessions: WebSessions
    let thresholds: ThresholdService
    let rounds: RoundService
    let audit: AuditService
    let renderer: PageRenderer
    let now: @Sendable () -> Date

    func register(on router: Router<FeedbackRequestContext>) {
        router.get("/ui") { request, _ in
            guard let session = try await self.sessions.session(request),
                  let first = Page.allCases.first(where: { session.may($0.roles) }) else {
                return Self.redirect("/ui/sign-in")
            }
            return Self.redirect(first.path)
        }
        router.get("/ui/sign-in") { _, _ in
            Self.html(self.renderer.signIn(SignInPage()))
        }
        router.post("/ui/sign-in") { request, context in
            // No session yet to take a form token from; another site's page still cannot sign anyone in.
            do {
                try WebSessions.checkOrigin(request)
            } catch let problem as ProblemResponse {
                return Self.html(self.renderer.signIn(SignInPage(error: problem.details.detail)), status: .forbidden)
            }
            let fields = try await Self.form(request)
            let token = (fields["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard let (sessionID, record) = try await self.sessions.signIn(token: token, replacing: request) else {
                return Self.html(self.renderer.signIn(SignInPage(error: "That token opens nothing: it is unknown or was revoked.")),
                                 status: .unauthorized)
            }
            context.logger.info("signed in to the pages", metadata: ["actor": "\(record.actor)"])
            var response = Self.redirect("/ui")
            response.setCookie(self.sessions.signedIn(sessionID: sessionID))
            return response
        }
        router.post("/ui/sign-out") { request, _ in
            guard let session = try await self.sessions.session(request) else { return Self.redirect("/ui/sign-in") }
            do {
                try WebSessions.checkForm(request, fields: try await Self.form(request), session: session)
            } catch let problem as ProblemResponse {
                return self.errorPage(problem, chrome: self.chrome(session, current: nil))
            }
            try await self.sessions.signOut(session)
            var response = Self.redirect("/ui/sign-in")
            response.setCookie(WebSessions.signedOut)
            return response
        }
        router.get("/ui/fleet") { request, _ in
            try await self.page(.fleet, request) { session, chrome in
                self.renderer.fleet(try await self.fleetPage(session), chrome: chrome)
            }
        }
        router.get("/ui/calibration") { request, _ in
            try await self.page(.calibration, request) { _, chrome in
                let number = try request.uri.queryParameters["page"].map { text in
                    guard let number = Int(text), number >= 1 else {
                        throw ProblemResponse(.invalidRequest, "page must be a whole number from 1, not \(text)")
                    }
                    return number
                } ?? 1
                return self.renderer.calibration(try await self.calibrationPage(cohortPage: number), chrome: chrome)
            }
        }
        router.post("/ui/calibration/releases/:version/approve") { request, context in
            try await self.action(.calibration, request) { session, _ in
                let release = try await self.thresholds.release(try context.parameters.require("version"))
                _ = try await self.thresholds.approve(release, by: session.record)
                return Self.redirect(Page.calibration.path)
            }
        }
        router.post("/ui/calibration/releases/:version/publish") { request, context in
            try await self.action(.calibration, request) { session, _ in
                let release = try await self.thresholds.release(try context.parameters.require("version"))
                _ = try await self.thresholds.publishApproved(release, by: session.record)
                return Self.redirect(Page.calibration.path)
            }
        }
        router.get("/ui/federation") { request, _ in
            try await self.page(.federation, request) { session, chrome in
                self.renderer.federation(try await self.federationPage(session), chrome: chrome)
            }
        }
        router.get("/ui/compliance") { request, _ in
            try await self.page(.compliance, request) { _, chrome in
                let filter = try ComplianceService.consentFilter(request.uri.queryParameters)
                return self.renderer.compliance(try await self.compliancePage(filter: filter, verification: nil), chrome: chrome)
            }
        }
        router.post("/ui/compliance/checkpoints/:size/verify") { request, context in
            try await self.action(.compliance, request) { session, _ in
                let text = try context.parameters.require("size")
                guard let size = Int(text) else { throw ProblemResponse(.notFound, "no stored checkpoint of tree size \(text)") }
                let verification = try await self.verifyAuditLog(since: size)
                let page = try await self.compliancePage(filter: ConsentEventFilter(), verification: verification)
                return Self.html(self.renderer.compliance(page, chrome: self.chrome(session, current: .compliance)))
            }
        }
    }

    /// A page for the signed-in person: a redirect to the sign-in page without a session, a
    /// refusal for a role the page is not for, an error page for a refused read.
    private func page(_ page: Page, _ request: Request,
                      render: (WebSessions.Session, PageChrome) async throws -> String) async throws -> Response {
        guard let session = try await sessions.session(request) else { return Self.redirect("/ui/sign-in") }
        let chrome = chrome(session, current: page)
        do {
            guard session.may(page.roles) else { throw Self.notForRole(session, page) }
            return Self.html(try await render(session, chrome))
        } catch let problem as ProblemResponse {
            return errorPage(problem, chrome: chrome)
        }
    }

    /// A form post from one of `page`'s own pages: the same checks as `page`, and the form token.
    private func action(_ page: Page, _ request: Request,
                        perform: (WebSessions.Session, [String: String]) async throws -> Response) async throws -> Response {
        guard let session = try await sessions.session(request) else { return Self.redirect("/ui/sign-in") }
        do {
            guard session.may(page.roles) else { throw Self.notForRole(session, page) }
            let fields = try await Self.form(request)
            try WebSessions.checkForm(request, fields: fields, session: session)
            return try await perform(session, fields)
        } catch let problem as ProblemResponse {
            return errorPage(problem, chrome: chrome(session, current: page))
        }
    }

    private static func notForRole(_ session: WebSessions.Session, _ page: Page) -> ProblemResponse {
        ProblemResponse(.forbidden, "the \(page.rawValue) page is for \(page.roles.union([.admin]).map(\.rawValue).sorted().joined(separator: ", ")); "
                        + "you are signed in as \(session.record.role)")
    }

    func chrome(_ session: WebSessions.Session, current: Page?) -> PageChrome {
        PageChrome(user: session.record.label, role: session.record.role,
                   links: Page.allCases.filter { session.may($0.roles) }.map {
                       PageChrome.Link(label: $0.title, href: $0.path, current: $0 == current)
                   },
                   csrf: session.csrf)
    }

    private func errorPage(_ problem: ProblemResponse, chrome: PageChrome) -> Response {
        let status = problem.details.status
        let page = ErrorPage(status: status, heading: problem.details.title, detail: problem.details.detail ?? "")
        return Self.html(renderer.error(page, chrome: chrome), status: .init(code: status))
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status,
                 headers: [.contentType: "text/html; charset=utf-8", .contentSecurityPolicy: Stylesheet.contentSecurityPolicy,
                           .cacheControl: "no-store", .xContentTypeOptions: "nosniff", .referrerPolicy: "no-referrer"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// The fields of an `application/x-www-form-urlencoded` body of at most 16 KiB.
    static func form(_ request: Request) async throws -> [String: String] {
        var request = request
        let body = try await request.collectBody(upTo: 16 * 1024)
        var fields: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decoded(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            fields[decoded(parts[0])] = parts.count > 1 ? decoded(parts[1]) : ""
        }
        return fields
    }
}
