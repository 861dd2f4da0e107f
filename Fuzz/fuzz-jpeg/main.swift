import FaceVerification
import FuzzDriver

// Camera frames and enrolment photos: corrupt, truncated or huge JPEGs must be refused,
// never crash. The pixel limit keeps the fuzzer's memory bounded like the kiosk's.
let decoder = JPEGDecoder(maxPixels: 4_000_000)

FuzzDriver.run { input in
    _ = try? decoder.decode(input)
}
