/// The parameters of `CaptureNormalization`: which image steps run between JPEG decode and face
/// detection, and how strongly. A step that is absent does not run, so the empty policy
/// (`{}` in JSON) is the identity and leaves every frame untouched.
///
/// The steps always run in one canonical order, whatever order the JSON lists them in:
/// white balance → exposure → CLAHE → unsharp mask. Colour and brightness are fixed first
/// so that the equaliser and the sharpener see a neutral frame, and sharpening comes last so
/// that no later step smooths its edges away.
///
/// `mirror_average` is not an image step: it acts after detection, on the aligned face chip. The
/// descriptor is the mean of the chip's and its mirror image's (test-time flip averaging), which
/// evens out what a degraded frame does to one side of the face. It costs one more pass of the
/// descriptor network and no second detection.
///
/// JSON keys are snake_case; an unknown key, a `null`, a value of the wrong type or one
/// outside its range is refused with a `NormalizationPolicyError` naming the field, so a
/// policy that decodes is one that `CaptureNormalization` can apply.
///
/// ```json
/// {"white_balance": {"strength": 1},
///  "exposure": {"method": "gamma", "target_mean": 0.45},
///  "clahe": {"tiles_x": 8, "tiles_y": 8, "clip_limit": 2},
///  "unsharp_mask": {"radius": 3, "percent": 200, "threshold": 0},
///  "mirror_average": true}
/// ```
public struct NormalizationPolicy: Sendable, Hashable, Codable {
    /// Grey-world white balance: each channel is scaled so that the three channel means meet
    /// at their average. `strength` 0 leaves the frame as it is, 1 applies the full gains
    /// (each first limited to `WhiteBalance.gainRange`, so a frame with almost no blue is not
    /// blown up 50-fold).
    public struct WhiteBalance: Sendable, Hashable, Codable {
        public static let strengthRange: ClosedRange<Double> = 0...1
        /// The most a channel is ever scaled up or down by.
        public static let gainRange: ClosedRange<Double> = 0.25...4
        public var strength: Double

        public init(strength: Double) {
            self.strength = strength
        }
    }

    /// Brings the frame's mean BT.601 luminance (0…1) toward `targetMean`: either with a
    /// power curve on every channel (`gamma`, which keeps black black and white white) or a
    /// plain multiplication (`gain`, which clips highlights). The exponent and the gain are
    /// limited to `correctionRange` so that a black or white frame is not stretched without
    /// bound; a frame whose mean is exactly 0 or 1 is left as it is.
    public struct Exposure: Sendable, Hashable, Codable {
        public enum Method: String, Sendable, Hashable, Codable, CaseIterable {
            case gamma
            case gain
        }

        public static let targetMeanRange: ClosedRange<Double> = 0.05...0.95
        public static let correctionRange: ClosedRange<Double> = 0.25...4
        public var method: Method
        public var targetMean: Double

        public init(method: Method, targetMean: Double) {
            self.method = method
            self.targetMean = targetMean
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case method
            case targetMean = "target_mean"
        }
    }

    /// Contrast-limited adaptive histogram equalisation of the luma plane with OpenCV's
    /// semantics (`cv::createCLAHE(clipLimit, Size(tilesX, tilesY))`): `clipLimit` is a
    /// multiple of a tile's mean histogram bin, OpenCV's default being 40 and a gentle one 2.
    public struct CLAHE: Sendable, Hashable, Codable {
        public static let tilesRange: ClosedRange<Int> = 1...16
        public static let clipLimitRange: ClosedRange<Double> = 1...100
        public var tilesX: Int
        public var tilesY: Int
        public var clipLimit: Double

        public init(tilesX: Int = 8, tilesY: Int = 8, clipLimit: Double) {
            self.tilesX = tilesX
            self.tilesY = tilesY
            self.clipLimit = clipLimit
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case tilesX = "tiles_x"
            case tilesY = "tiles_y"
            case clipLimit = "clip_limit"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            tilesX = try StrictKeys.integer(container, .tilesX, in: "clahe")
            tilesY = try StrictKeys.integer(container, .tilesY, in: "clahe")
            clipLimit = try container.decode(Double.self, forKey: .clipLimit)
        }
    }

    /// Pillow's `ImageFilter.UnsharpMask(radius, percent, threshold)`: a Gaussian blur of
    /// `radius` (three box blurs), and every channel value that differs from its blurred value
    /// by more than `threshold` moves away from it by `percent` % of the difference.
    public struct UnsharpMask: Sendable, Hashable, Codable {
        public static let radiusRange: ClosedRange<Double> = 0.1...20
        public static let percentRange: ClosedRange<Int> = 0...1000
        public static let thresholdRange: ClosedRange<Int> = 0...255
        public var radius: Double
        public var percent: Int
        public var threshold: Int

        public init(radius: Double, percent: Int, threshold: Int = 0) {
            self.radius = radius
            self.percent = percent
            self.threshold = threshold
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case radius, percent, threshold
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            radius = try container.decode(Double.self, forKey: .radius)
            percent = try StrictKeys.integer(container, .percent, in: "unsharp_mask")
            threshold = try StrictKeys.integer(container, .threshold, in: "unsharp_mask")
        }
    }

    public var whiteBalance: WhiteBalance?
    public var exposure: Exposure?
    public var clahe: CLAHE?
    public var unsharpMask: UnsharpMask?
    /// The descriptor is the mean of the face chip's and its mirror image's.
    public var mirrorAverage: Bool

    /// Every step off: frames pass through unchanged.
    public static let identity = NormalizationPolicy()

    public init(whiteBalance: WhiteBalance? = nil, exposure: Exposure? = nil, clahe: CLAHE? = nil, unsharpMask: UnsharpMask? = nil,
                mirrorAverage: Bool = false) {
        self.whiteBalance = whiteBalance
        self.exposure = exposure
        self.clahe = clahe
        self.unsharpMask = unsharpMask
        self.mirrorAverage = mirrorAverage
    }

    /// True when no step runs (also when white balance runs at strength 0, which changes nothing).
    public var isIdentity: Bool {
        !changesImage && !mirrorAverage
    }

    /// True when an image step runs, so the frame the detector sees differs from the decoded one.
    public var changesImage: Bool {
        !((whiteBalance == nil || whiteBalance?.strength == 0) && exposure == nil && clahe == nil && unsharpMask == nil)
    }

    /// The names of the steps that run, in the order they run.
    public var stepNames: [String] {
        var names: [String] = []
        if whiteBalance != nil { names.append(CodingKeys.whiteBalance.rawValue) }
        if exposure != nil { names.append(CodingKeys.exposure.rawValue) }
        if clahe != nil { names.append(CodingKeys.clahe.rawValue) }
        if unsharpMask != nil { names.append(CodingKeys.unsharpMask.rawValue) }
        if mirrorAverage { names.append(CodingKeys.mirrorAverage.rawValue) }
        return names
    }

    /// Throws the first parameter outside its range (or not finite).
    public func validate() throws(NormalizationPolicyError) {
        if let whiteBalance {
            try Self.check(whiteBalance.strength, in: WhiteBalance.strengthRange, "white_balance.strength")
        }
        if let exposure {
            try Self.check(exposure.targetMean, in: Exposure.targetMeanRange, "exposure.target_mean")
        }
        if let clahe {
            try Self.check(clahe.tilesX, in: CLAHE.tilesRange, "clahe.tiles_x")
            try Self.check(clahe.tilesY, in: CLAHE.tilesRange, "clahe.tiles_y")
            try Self.check(clahe.clipLimit, in: CLAHE.clipLimitRange, "clahe.clip_limit")
        }
        if let unsharpMask {
            try Self.check(unsharpMask.radius, in: UnsharpMask.radiusRange, "unsharp_mask.radius")
            try Self.check(unsharpMask.percent, in: UnsharpMask.percentRange, "unsharp_mask.percent")
            try Self.check(unsharpMask.threshold, in: UnsharpMask.thresholdRange, "unsharp_mask.threshold")
        }
    }

    private static func check(_ value: Double, in range: ClosedRange<Double>, _ field: String) throws(NormalizationPolicyError) {
        guard value.isFinite, range.contains(value) else {
            throw NormalizationPolicyError(field: field, message: "must be a number from \(format(range.lowerBound)) to \(format(range.upperBound)), not \(format(value))")
        }
    }

    private static func check(_ value: Int, in range: ClosedRange<Int>, _ field: String) throws(NormalizationPolicyError) {
        guard range.contains(value) else {
            throw NormalizationPolicyError(field: field, message: "must be an integer from \(range.lowerBound) to \(range.upperBound), not \(value)")
        }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    // MARK: Codable

    enum CodingKeys: String, CodingKey, CaseIterable {
        case whiteBalance = "white_balance"
        case exposure
        case clahe
        case unsharpMask = "unsharp_mask"
        case mirrorAverage = "mirror_average"
    }

    /// Strict: refuses unknown keys and explicit nulls at every level, then validates the ranges.
    public init(from decoder: any Decoder) throws {
        try StrictKeys.refuseUnknown(in: decoder, allowed: CodingKeys.allCases.map(\.rawValue), at: "")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        whiteBalance = try StrictKeys.decodeStep(WhiteBalance.self, from: container, .whiteBalance,
                                                 fields: ["strength"])
        exposure = try StrictKeys.decodeStep(Exposure.self, from: container, .exposure,
                                             fields: Exposure.CodingKeys.allCases.map(\.rawValue))
        clahe = try StrictKeys.decodeStep(CLAHE.self, from: container, .clahe,
                                          fields: CLAHE.CodingKeys.allCases.map(\.rawValue))
        unsharpMask = try StrictKeys.decodeStep(UnsharpMask.self, from: container, .unsharpMask,
                                                fields: UnsharpMask.CodingKeys.allCases.map(\.rawValue))
        mirrorAverage = try StrictKeys.flag(from: container, .mirrorAverage)
        try validate()
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(whiteBalance, forKey: .whiteBalance)
        try container.encodeIfPresent(exposure, forKey: .exposure)
        try container.encodeIfPresent(clahe, forKey: .clahe)
        try container.encodeIfPresent(unsharpMask, forKey: .unsharpMask)
        if mirrorAverage { try container.encode(true, forKey: .mirrorAverage) }
    }
}

/// A policy that cannot be applied, with the JSON field at fault (`clahe.tiles_x`).
public struct NormalizationPolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String {
        field.isEmpty ? "Invalid normalisation policy: \(message)" : "Invalid normalisation policy: \(field) \(message)"
    }
}

/// Key checks that the synthesised `Decodable` does not make.
private enum StrictKeys {
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static func refuseUnknown(in decoder: any Decoder, allowed: [String], at path: String) throws {
        let container: KeyedDecodingContainer<AnyKey>
        do {
            container = try decoder.container(keyedBy: AnyKey.self)
        } catch {
            throw NormalizationPolicyError(field: path, message: "must be a JSON object")
        }
        if let unknown = container.allKeys.map(\.stringValue).filter({ !allowed.contains($0) }).sorted().first {
            let field = path.isEmpty ? unknown : "\(path).\(unknown)"
            throw NormalizationPolicyError(field: field, message: "is not a known key (known: \(allowed.joined(separator: ", ")))")
        }
    }

    /// An integer field read as a number and checked: Foundation's decoder reports 8.5 for an
    /// `Int` as invalid JSON without saying where.
    static func integer<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key, in step: String) throws -> Int {
        let value = try container.decode(Double.self, forKey: key)
        guard value.isFinite, value == value.rounded(), abs(value) < 1e9 else {
            throw NormalizationPolicyError(field: "\(step).\(key.stringValue)", message: "must be an integer, not \(value)")
        }
        return Int(value)
    }

    /// An absent flag is off; a present one must be `true` or `false`.
    static func flag(from container: KeyedDecodingContainer<NormalizationPolicy.CodingKeys>,
                     _ key: NormalizationPolicy.CodingKeys) throws -> Bool {
        guard container.contains(key) else { return false }
        guard try !container.decodeNil(forKey: key), let value = try? container.decode(Bool.self, forKey: key) else {
            throw NormalizationPolicyError(field: key.rawValue, message: "must be true or false")
        }
        return value
    }

    /// An absent step is off; a present one must be an object with exactly its own fields.
    static func decodeStep<Step: Decodable>(_ type: Step.Type, from container: KeyedDecodingContainer<NormalizationPolicy.CodingKeys>,
                                            _ key: NormalizationPolicy.CodingKeys, fields: [String]) throws -> Step? {
        guard container.contains(key) else { return nil }
        if try container.decodeNil(forKey: key) {
            throw NormalizationPolicyError(field: key.rawValue, message: "must be an object (leave the key out to turn the step off)")
        }
        try refuseUnknown(in: try container.superDecoder(forKey: key), allowed: fields, at: key.rawValue)
        do {
            return try container.decode(Step.self, forKey: key)
        } catch let DecodingError.keyNotFound(missing, _) {
            throw NormalizationPolicyError(field: "\(key.rawValue).\(missing.stringValue)", message: "is missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let field = ([key.rawValue] + context.codingPath.suffix(from: container.codingPath.count + 1).map(\.stringValue))
                .joined(separator: ".")
            throw NormalizationPolicyError(field: field, message: "has the wrong type (\(context.debugDescription))")
        } catch let DecodingError.dataCorrupted(context) {
            let field = ([key.rawValue] + context.codingPath.suffix(from: min(context.codingPath.count, container.codingPath.count + 1)).map(\.stringValue))
                .joined(separator: ".")
            throw NormalizationPolicyError(field: field, message: "is not valid (\(context.debugDescription))")
        } catch let error as NormalizationPolicyError {
            throw error
        } catch {
            throw NormalizationPolicyError(field: key.rawValue, message: "is not valid (\(error))")
        }
    }
}
