import Foundation

/// A path under the system's temporary directory, `faceloop-<label>-<UUID><suffix>`, at which
/// nothing exists yet: for a file a test writes, or a directory that must be missing.
public func temporaryPath(_ label: String, suffix: String = "") -> String {
    (NSTemporaryDirectory() as NSString).appendingPathComponent("faceloop-\(label)-\(UUID().uuidString)\(suffix)")
}

/// A new, empty directory at `temporaryPath(label)`. The test removes it when it is done.
public func temporaryDirectory(_ label: String) throws -> String {
    let path = temporaryPath(label)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
