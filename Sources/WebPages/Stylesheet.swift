import Crypto
import Foundation

/// The pages' only stylesheet, inlined into every page (closed networks: nothing is fetched
/// from elsewhere). The Content-Security-Policy allows exactly this stylesheet by its hash,
/// no script at all, and forms only back to this server.
public enum Stylesheet {
    public static let css = """
        :root{color-scheme:light;--ink:#1d2330;--muted:#5b6475;--line:#d8dce4;--accent:#1f4e99;--bad:#b91c1c;--ok:#1b7a3a}
        *{box-sizing:border-box}
        body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:#f6f7f9}
        header{display:flex;gap:24px;align-items:center;padding:10px 24px;background:#16243d;color:#fff}
        header strong{font-size:16px;letter-spacing:.02em}
        header nav{display:flex;gap:4px;flex:1}
        header nav a{color:#cfd8ea;text-decoration:none;padding:6px 10px;border-radius:4px}
        header nav a[aria-current=page]{background:#2d4470;color:#fff}
        header form{display:flex;gap:8px;align-items:center;margin:0;color:#cfd8ea}
        main{padding:16px 24px 40px;max-width:1280px}
        h1{font-size:22px;margin:8px 0 12px}
        h2{font-size:17px;margin:24px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
        h3{font-size:15px;margin:0 0 6px}
        table{border-collapse:collapse;background:#fff;border:1px solid var(--line);margin:4px 0 8px}
        th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
        th{background:#eef0f4;font-weight:600}
        td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
        tr.revoked td{color:var(--muted)}
        td.warn{color:var(--bad);font-weight:600}
        dl.figures{display:flex;flex-wrap:wrap;gap:12px;margin:4px 0 12px}
        dl.figures div{background:#fff;border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:140px}
        dl.figures dt{color:var(--muted);font-size:12px}
        dl.figures dd{margin:0;font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
        section.cohort{background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px;margin:12px 0}
        h4{font-size:14px;margin:0 0 4px}
        div.paired{border-top:1px solid var(--line);margin-top:12px;padding-top:10px}
        .charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
        .flag{display:inline-block;background:#fde8e8;color:var(--bad);border-radius:3px;padding:0 6px;margin:0 4px 4px 0}
        .stable{color:var(--ok)}
        .muted{color:var(--muted)}
        .error{color:var(--bad);font-weight:600}
        .valid{color:var(--ok);font-weight:600}
        form.inline{display:inline;margin:0}
        form.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-end;margin:4px 0 8px}
        form.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
        input,select{font:inherit;padding:3px 6px;border:1px solid #b8bfcc;border-radius:4px}
        button{font:inherit;padding:3px 12px;border:1px solid var(--accent);background:var(--accent);color:#fff;border-radius:4px;cursor:pointer}
        header button{background:transparent;border-color:#8ea2c8}
        .signin{max-width:420px;margin:60px auto;background:#fff;border:1px solid var(--line);border-radius:8px;padding:24px}
        .signin input{width:100%;margin:6px 0 12px}
        code{font-size:12px}
        """

    /// The value for `Content-Security-Policy` on every page.
    public static let contentSecurityPolicy: String = {
        let hash = Data(SHA256.hash(data: Data(css.utf8))).base64EncodedString()
        return "default-src 'none'; style-src 'sha256-\(hash)'; img-src data:; form-action 'self'; "
            + "frame-ancestors 'none'; base-uri 'none'"
    }()
}
