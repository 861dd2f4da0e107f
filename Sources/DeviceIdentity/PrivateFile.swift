import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Files holding private keys and tokens, on the server and on the kiosk.
///
/// The bytes go to a fresh file beside the target, opened with
/// `open(O_CREAT|O_EXCL|O_WRONLY|O_NOFOLLOW, mode)`: the file has its final mode from its
/// first instant (a create-then-chmod would leave it readable by others for a moment), and
/// `O_EXCL` means nothing planted there beforehand — a file or a link — is ever written
/// through. The finished file is then linked or renamed into place, so a crash leaves either
/// no file or a whole one.
///
/// ```swift
/// try PrivateFile.create(Data(pem.utf8), at: "data/ca.key")           // refuses to replace anything
/// try PrivateFile.replace(Data(json.utf8), at: "agent/model.json")      // atomic overwrite
/// try PrivateFile.requirePrivate("data/ca.key")                          // refuses 0640, 0644, …
/// ```
public enum PrivateFile {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case exists(path: String)
        case io(path: String, reason: String)
        case exposed(path: String, mode: Int)
        case unchecked(path: String, reason: String)

        public var description: String {
            switch self {
            case let .exists(path):
                return "\(path) is already there, so nothing was written to it; move it away and try again"
            case let .io(path, reason):
                return "cannot write \(path): \(reason)"
            case let .exposed(path, mode):
                return "\(path) is open to other users (mode \(String(mode, radix: 8))): run `chmod 600 \(path)` and try again, "
                    + "and replace the secret in it if someone else may have read it"
            case let .unchecked(path, reason):
                return "cannot check who may read \(path): \(reason)"
            }
        }
    }

    /// Writes a new file at `path`; refuses if anything, even a dangling link, is there already.
    public static func create(_ data: Data, at path: String, mode: mode_t = 0o600) throws {
        let temporary = try writeTemporary(data, beside: path, mode: mode)
        // link(2) never replaces its target, unlike rename(2): the no-clobber publish.
        let linked = link(temporary, path) == 0 ? 0 : errno
        unlink(temporary)
        switch linked {
        case 0: return
        case EEXIST: throw Error.exists(path: path)
        default: throw Error.io(path: path, reason: String(cString: strerror(linked)))
        }
    }

    /// Replaces the file at `path` in one rename; a link there is replaced, not followed.
    public static func replace(_ data: Data, at path: String, mode: mode_t = 0o600) throws {
        let temporary = try writeTemporary(data, beside: path, mode: mode)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Error.io(path: path, reason: reason)
        }
    }

    /// Refuses a file that group or others may read or write. A link is judged by what it
    /// points to, which is what a reader gets.
    public static func requirePrivate(_ path: String) throws {
        var status = stat()
        guard stat(path, &status) == 0 else { throw Error.unchecked(path: path, reason: String(cString: strerror(errno))) }
        let permissions = Int(status.st_mode) & 0o777
        guard permissions & 0o077 == 0 else { throw Error.exposed(path: path, mode: permissions) }
    }

    private static func writeTemporary(_ data: Data, beside path: String, mode: mode_t) throws -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let name = "." + (path as NSString).lastPathComponent + "." + UUID().uuidString + ".tmp"
        let temporary = directory.isEmpty ? name : (directory as NSString).appendingPathComponent(name)
        let descriptor = open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw Error.io(path: path, reason: String(cString: strerror(errno))) }
        // The umask may only have narrowed the mode; a public file (a certificate) gets exactly its mode.
        var failure = fchmod(descriptor, mode) == 0 ? 0 : errno
        if failure == 0 {
            failure = data.withUnsafeBytes { buffer -> Int32 in
                var offset = 0
                while offset < buffer.count {
                    let written = write(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    offset += written
                }
                return 0
            }
        }
        if failure == 0, fsync(descriptor) != 0 { failure = errno }
        close(descriptor)
        guard failure == 0 else {
            unlink(temporary)
            throw Error.io(path: path, reason: String(cString: strerror(failure)))
        }
        return temporary
    }
}
