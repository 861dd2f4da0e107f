// The adapter and FederationError live in FederationCore so that the kiosk's face pipeline
// can use them without the training stack; everything here trains, aggregates and reports
// in their terms, so `import Federation` brings them along.
@_exported import FederationCore
