import FuzzDriver
import ScoreReports

// Score files from `faceloop scores evaluate`: plain or gzipped CSV from anywhere. A corrupt,
// truncated or bomb-like file must end with a ScoreFileError, never a crash or unbounded memory.
FuzzDriver.run { input in
    _ = try? ScoreFileReader.parse(input)
}
