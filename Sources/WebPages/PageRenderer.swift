import Mustache

/// Renders the pages: each page's template inside the common layout.
///
/// ```swift
/// let renderer = try PageRenderer()
/// let html = renderer.fleet(page, chrome: chrome)
/// ```
public struct PageRenderer: Sendable {
    private let library: MustacheLibrary

    public init() throws {
        library = MustacheLibrary(templates: [
            "layout": try MustacheTemplate(string: Templates.layout),
            "sign-in": try MustacheTemplate(string: Templates.signIn),
            "error": try MustacheTemplate(string: Templates.error),
            "fleet": try MustacheTemplate(string: Templates.fleet),
            "calibration": try MustacheTemplate(string: Templates.calibration),
            "federation": try MustacheTemplate(string: Templates.federation),
            "compliance": try MustacheTemplate(string: Templates.compliance),
        ])
    }

    public func signIn(_ page: SignInPage) -> String {
        framed(title: "Sign in", chrome: nil, body: library.render(page, withTemplate: "sign-in"))
    }

    public func error(_ page: ErrorPage, chrome: PageChrome) -> String {
        framed(title: page.heading, chrome: chrome, body: library.render(page, withTemplate: "error"))
    }

    public func fleet(_ page: FleetPage, chrome: PageChrome) -> String {
        framed(title: "Fleet", chrome: chrome, body: body("fleet", page, chrome))
    }

    public func calibration(_ page: CalibrationPage, chrome: PageChrome) -> String {
        framed(title: "Calibration", chrome: chrome, body: body("calibration", page, chrome))
    }

    public func federation(_ page: FederationPage, chrome: PageChrome) -> String {
        framed(title: "Federation", chrome: chrome, body: body("federation", page, chrome))
    }

    public func compliance(_ page: CompliancePage, chrome: PageChrome) -> String {
        framed(title: "Compliance", chrome: chrome, body: body("compliance", page, chrome))
    }

    /// A page's template sees the page's values and, from anywhere inside it, the form token.
    private struct Context<Page> {
        let page: Page
        let csrf: String
    }

    private func body<Page>(_ template: String, _ page: Page, _ chrome: PageChrome) -> String? {
        library.render(Context(page: page, csrf: chrome.csrf), withTemplate: template)
    }

    private struct Frame {
        let title: String
        let chrome: PageChrome?
        let stylesheet: String
        let body: String
    }

    private func framed(title: String, chrome: PageChrome?, body: String?) -> String {
        // Every template is registered in init, so a render can only come back nil if the
        // name were wrong; the layout is still served, empty, rather than trapping.
        library.render(Frame(title: title, chrome: chrome, stylesheet: Stylesheet.css, body: body ?? ""), withTemplate: "layout") ?? ""
    }
}
