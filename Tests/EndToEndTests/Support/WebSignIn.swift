import Foundation

/// The pages' sign-in as a browser does it, without a browser: the form post, the session
/// cookie the server sets, and the form token a page carries.
enum WebSignIn {
    /// The session id the server set in `faceloop_session` after signing in with `token`, nil
    /// when it set none.
    static func session(_ client: RawClient, token: String) async throws -> String? {
        let encoded = token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token
        let answer = try await client.send("POST", "/ui/sign-in", headers: ["content-type": "application/x-www-form-urlencoded"],
                                           body: Array("token=\(encoded)".utf8))
        guard answer.status == 303 else { return nil }
        return sessionCookie(answer)?.value
    }

    /// The `faceloop_session` cookie an answer sets: its value and its attributes.
    static func sessionCookie(_ answer: RawResponse) -> (value: String, attributes: [String])? {
        for (name, value) in answer.headers where name.lowercased() == "set-cookie" {
            let parts = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let first = parts.first, first.hasPrefix("faceloop_session=") else { continue }
            return (String(first.dropFirst("faceloop_session=".count)), Array(parts.dropFirst()))
        }
        return nil
    }

    static func cookie(_ session: String) -> [String: String] { ["cookie": "faceloop_session=\(session)"] }

    /// The form token in a page's `csrf-token` meta element ("" when there is none).
    static func formToken(_ page: RawResponse) -> String {
        let html = String(decoding: page.body, as: UTF8.self)
        return String(html.components(separatedBy: "name=\"csrf-token\" content=\"").dropFirst().first?.prefix { $0 != "\"" } ?? "")
    }
}
