// The routes that fill these pages also draw their charts (histograms, DET curves, the ε
// bar) and format their numbers with the same `Format`: one `import WebPages` gives both.
@_exported import Charts
