/// What each page shows, already reduced to display strings and chart markup by the server's
/// web routes. A section that is nil is one the signed-in role may not see: the templates
/// leave it out entirely rather than showing it empty.

/// The frame around every signed-in page: who is signed in, where they may go, and the
/// token that every form of theirs posts back.
public struct PageChrome: Sendable {
    public struct Link: Sendable {
        public var label: String
        public var href: String
        public var current: Bool

        public init(label: String, href: String, current: Bool) {
            self.label = label
            self.href = href
            self.current = current
        }
    }

    public var user: String
    public var role: String
    public var links: [Link]
    public var csrf: String

    public init(user: String, role: String, links: [Link], csrf: String) {
        self.user = user
        self.role = role
        self.links = links
        self.csrf = csrf
    }
}

public struct SignInPage: Sendable {
    public var error: String?
    public init(error: String? = nil) { self.error = error }
}

public struct ErrorPage: Sendable {
    public var status: Int
    public var heading: String
    public var detail: String
    public init(status: Int, heading: String, detail: String) {
        self.status = status
        self.heading = heading
        self.detail = detail
    }
}

public struct FleetPage: Sendable {
    public struct Kiosk: Sendable {
        public var deviceID: String
        public var status: String
        public var revoked: Bool
        public var lastUpload: String
        public var backlog: String
        public var backlogReportedAt: String
        public var batches: Int
        public var events: Int
        public var refused: Int
        /// The sites it is bound to, or "none".
        public var sites: String
        public var certificateExpires: String
        /// Its certificate expires within 30 days: it has not renewed (offline, or refused).
        public var certificateExpiring: Bool
        public init(deviceID: String, status: String, revoked: Bool, lastUpload: String, backlog: String, backlogReportedAt: String,
                    batches: Int, events: Int, refused: Int, sites: String = "none", certificateExpires: String = "",
                    certificateExpiring: Bool = false) {
            self.deviceID = deviceID
            self.status = status
            self.revoked = revoked
            self.lastUpload = lastUpload
            self.backlog = backlog
            self.backlogReportedAt = backlogReportedAt
            self.batches = batches
            self.events = events
            self.refused = refused
            self.sites = sites
            self.certificateExpires = certificateExpires
            self.certificateExpiring = certificateExpiring
        }
    }

    public struct Count: Sendable {
        public var name: String
        public var events: Int
        public init(name: String, events: Int) {
            self.name = name
            self.events = events
        }
    }

    /// Administrators: the enrolled kiosks and what they reported.
    public struct Devices: Sendable {
        public let kiosks: [Kiosk]
        /// Stored, not computed: Mustache reads values by reflection, which sees stored properties only.
        public let enrolled: Int
        public var active: Int
        public var backlogTotal: Int
        public var rejections: [Count]
        public init(kiosks: [Kiosk], active: Int, backlogTotal: Int, rejections: [Count]) {
            self.kiosks = kiosks
            enrolled = kiosks.count
            self.active = active
            self.backlogTotal = backlogTotal
            self.rejections = rejections
        }
    }

    /// Engineers and administrators: stored outcomes by kiosk, cohort and label.
    public struct Outcomes: Sendable {
        public var totalEvents: Int
        public var totalBatches: Int
        public var genuine: Int
        public var impostor: Int
        public var unknown: Int
        public var byKiosk: [Count]
        public var byCohort: [Count]
        public init(totalEvents: Int, totalBatches: Int, genuine: Int, impostor: Int, unknown: Int, byKiosk: [Count], byCohort: [Count]) {
            self.totalEvents = totalEvents
            self.totalBatches = totalBatches
            self.genuine = genuine
            self.impostor = impostor
            self.unknown = unknown
            self.byKiosk = byKiosk
            self.byCohort = byCohort
        }
    }

    public var devices: Devices?
    public var outcomes: Outcomes?
    public init(devices: Devices?, outcomes: Outcomes?) {
        self.devices = devices
        self.outcomes = outcomes
    }
}

public struct CalibrationPage: Sendable {
    public struct Release: Sendable {
        public var version: Int
        public var state: String
        public var policy: String
        public var cohorts: Int
        public var refused: Int
        public var computed: String
        public var approvals: String
        public var published: String
        public var largestChange: String
        public var canApprove: Bool
        public var canPublish: Bool
        public init(version: Int, state: String, policy: String, cohorts: Int, refused: Int, computed: String, approvals: String,
                    published: String, largestChange: String, canApprove: Bool, canPublish: Bool) {
            self.version = version
            self.state = state
            self.policy = policy
            self.cohorts = cohorts
            self.refused = refused
            self.computed = computed
            self.approvals = approvals
            self.published = published
            self.largestChange = largestChange
            self.canApprove = canApprove
            self.canPublish = canPublish
        }
    }

    public struct Threshold: Sendable {
        public var kind: String
        public var version: Int
        public var threshold: String
        public var level: String
        public var falseMatchRate: String
        public var falseNonMatchRate: String
        public init(kind: String, version: Int, threshold: String, level: String, falseMatchRate: String, falseNonMatchRate: String) {
            self.kind = kind
            self.version = version
            self.threshold = threshold
            self.level = level
            self.falseMatchRate = falseMatchRate
            self.falseNonMatchRate = falseNonMatchRate
        }
    }

    public struct Cohort: Sendable {
        public var key: String
        public var modelVersion: String
        public var cameraModel: String
        public var site: String
        public var genuine: Int
        public var impostors: Int
        public var thresholds: [Threshold]
        public var driftFlags: [String]
        public var driftChecked: Bool
        public var histogramSVG: String
        public var detSVG: String?
        public init(key: String, modelVersion: String, cameraModel: String, site: String, genuine: Int, impostors: Int,
                    thresholds: [Threshold], driftFlags: [String], driftChecked: Bool, histogramSVG: String, detSVG: String?) {
            self.key = key
            self.modelVersion = modelVersion
            self.cameraModel = cameraModel
            self.site = site
            self.genuine = genuine
            self.impostors = impostors
            self.thresholds = thresholds
            self.driftFlags = driftFlags
            self.driftChecked = driftChecked
            self.histogramSVG = histogramSVG
            self.detSVG = detSVG
        }
    }

    /// A model's threshold on a rollout chart: the newest published threshold release's entry
    /// for the model and the cohort, and the rates at it on the paired attempts.
    public struct ModelThreshold: Sendable {
        /// `current` or `candidate`.
        public var role: String
        public var modelVersion: String
        /// Nil when the published release has no entry for this model and cohort.
        public var threshold: String?
        public var falseMatchRate: String
        public var falseNonMatchRate: String
        public init(role: String, modelVersion: String, threshold: String?, falseMatchRate: String, falseNonMatchRate: String) {
            self.role = role
            self.modelVersion = modelVersion
            self.threshold = threshold
            self.falseMatchRate = falseMatchRate
            self.falseNonMatchRate = falseNonMatchRate
        }
    }

    /// The figures of the paired test as the stored comparison holds them.
    public struct PairedFigures: Sendable {
        public var attempts: String
        public var thresholds: String
        public var currentFNMR: String
        public var candidateFNMR: String
        public var fnmrDifference: String
        /// McNemar's discordant pairs: genuine attempts only the current model accepts (b) and
        /// only the candidate accepts (c).
        public var candidateWorse: Int
        public var candidateBetter: Int
        public var mcnemarPValue: String
        public var currentFMR: String
        public var candidateFMR: String
        public var currentFMRUpperBound: String
        public var candidateFMRUpperBound: String
        public init(attempts: String, thresholds: String, currentFNMR: String, candidateFNMR: String, fnmrDifference: String,
                    candidateWorse: Int, candidateBetter: Int, mcnemarPValue: String, currentFMR: String, candidateFMR: String,
                    currentFMRUpperBound: String, candidateFMRUpperBound: String) {
            self.attempts = attempts
            self.thresholds = thresholds
            self.currentFNMR = currentFNMR
            self.candidateFNMR = candidateFNMR
            self.fnmrDifference = fnmrDifference
            self.candidateWorse = candidateWorse
            self.candidateBetter = candidateBetter
            self.mcnemarPValue = mcnemarPValue
            self.currentFMR = currentFMR
            self.candidateFMR = candidateFMR
            self.currentFMRUpperBound = currentFMRUpperBound
            self.candidateFMRUpperBound = candidateFMRUpperBound
        }
    }

    /// The stored comparison's verdict for one cohort and current model.
    public struct PairedTest: Sendable {
        public var verdict: String
        public var offersPromotion: Bool
        public var reason: String
        /// Nil when the test had too little data to compute them.
        public var figures: PairedFigures?
        public init(verdict: String, offersPromotion: Bool, reason: String, figures: PairedFigures?) {
            self.verdict = verdict
            self.offersPromotion = offersPromotion
            self.reason = reason
            self.figures = figures
        }
    }

    /// One cohort of a rollout: the model that decided there and the candidate, on the same attempts.
    public struct PairedCohort: Sendable {
        public var key: String
        public var cameraModel: String
        public var site: String
        public var currentModelVersion: String
        public var candidateModelVersion: String
        public var genuine: Int
        public var impostors: Int
        public var subjects: Int
        /// Stored, not computed: Mustache reads values by reflection, which sees stored properties only.
        public let scored: Bool
        public var thresholds: [ModelThreshold]
        /// Both models' DET curves on one chart; nil without genuine and impostor attempts.
        public var detSVG: String?
        public var test: PairedTest?
        public init(key: String, cameraModel: String, site: String, currentModelVersion: String, candidateModelVersion: String,
                    genuine: Int, impostors: Int, subjects: Int, thresholds: [ModelThreshold], detSVG: String?, test: PairedTest?) {
            self.key = key
            self.cameraModel = cameraModel
            self.site = site
            self.currentModelVersion = currentModelVersion
            self.candidateModelVersion = candidateModelVersion
            self.genuine = genuine
            self.impostors = impostors
            self.subjects = subjects
            scored = genuine + impostors > 0
            self.thresholds = thresholds
            self.detSVG = detSVG
            self.test = test
        }
    }

    /// A model release past `candidate`: where its rollout stands and the evidence for it.
    public struct Rollout: Sendable {
        public var version: Int
        public var modelVersion: String
        /// The stored state (`rolled_back`) and how it reads (`rolled back`).
        public var stage: String
        public var stageLabel: String
        public var updated: String
        /// Named apart from the page's `cohorts`, which a Mustache section would otherwise find.
        public var promotedCohorts: [String]
        public var canary: String?
        public var approvals: [String]
        /// "n of 2" while the release is in canary or fleet.
        public var fleetApprovals: String?
        public var reason: String?
        /// What the stored comparison was run with, or why it could not be read.
        public var comparison: String?
        public var comparisonError: String?
        public var pairs: [PairedCohort]
        public init(version: Int, modelVersion: String, stage: String, stageLabel: String, updated: String, promotedCohorts: [String],
                    canary: String?, approvals: [String], fleetApprovals: String?, reason: String?, comparison: String?,
                    comparisonError: String?, pairs: [PairedCohort]) {
            self.version = version
            self.modelVersion = modelVersion
            self.stage = stage
            self.stageLabel = stageLabel
            self.updated = updated
            self.promotedCohorts = promotedCohorts
            self.canary = canary
            self.approvals = approvals
            self.fleetApprovals = fleetApprovals
            self.reason = reason
            self.comparison = comparison
            self.comparisonError = comparisonError
            self.pairs = pairs
        }
    }

    /// Which of the cohorts the page shows: charts for a few thousand cohorts are tens of MB
    /// of HTML, so the page shows `perPage` at a time, and every cohort drift flagged by name.
    public struct CohortPages: Sendable {
        public static let perPage = 50

        /// "Cohorts 51–100 of 2000".
        public var range: String
        /// `?page=K` links; nil on the first and last page.
        public var previous: String?
        public var next: String?
        /// Cohorts with a drift flag, on any page (stored, not computed: templates read stored properties).
        public var flagged: [FlaggedCohort]
        public var flaggedCount: Int
        public var hasFlagged: Bool

        public init(range: String, previous: String?, next: String?, flagged: [FlaggedCohort]) {
            self.range = range
            self.previous = previous
            self.next = next
            self.flagged = flagged
            flaggedCount = flagged.count
            hasFlagged = !flagged.isEmpty
        }
    }

    public struct FlaggedCohort: Sendable {
        public var key: String
        public var flags: [String]
        /// The page showing it.
        public var link: String
        public init(key: String, flags: [String], link: String) {
            self.key = key
            self.flags = flags
            self.link = link
        }
    }

    public var releases: [Release]
    /// This page's cohorts.
    public var cohorts: [Cohort]
    public var cohortPages: CohortPages?
    /// Newest first.
    public var rollouts: [Rollout]
    public init(releases: [Release], cohorts: [Cohort], cohortPages: CohortPages? = nil, rollouts: [Rollout] = []) {
        self.releases = releases
        self.cohorts = cohorts
        self.cohortPages = cohortPages
        self.rollouts = rollouts
    }
}

public struct FederationPage: Sendable {
    public struct Round: Sendable {
        public var id: Int
        public var state: String
        public var opened: String
        public var deadline: String
        public var selected: Int
        public var received: Int
        public var participation: String
        public var accepted: Int
        public var rejections: [String]
        public var adjusted: Int
        public var releaseVersion: String
        public var parameters: String
        public init(id: Int, state: String, opened: String, deadline: String, selected: Int, received: Int, participation: String,
                    accepted: Int, rejections: [String], adjusted: Int, releaseVersion: String, parameters: String) {
            self.id = id
            self.state = state
            self.opened = opened
            self.deadline = deadline
            self.selected = selected
            self.received = received
            self.participation = participation
            self.accepted = accepted
            self.rejections = rejections
            self.adjusted = adjusted
            self.releaseVersion = releaseVersion
            self.parameters = parameters
        }
    }

    /// Engineers: rounds and the privacy budget they spent.
    public struct Rounds: Sendable {
        public var list: [Round]
        public var epsilonSpent: String
        public var epsilonBudget: String
        public var delta: String
        public var accountant: String
        public var budgetSVG: String
        public init(list: [Round], epsilonSpent: String, epsilonBudget: String, delta: String, accountant: String, budgetSVG: String) {
            self.list = list
            self.epsilonSpent = epsilonSpent
            self.epsilonBudget = epsilonBudget
            self.delta = delta
            self.accountant = accountant
            self.budgetSVG = budgetSVG
        }
    }

    public struct Release: Sendable {
        public var version: Int
        public var roundID: Int
        public var modelVersion: String
        public var published: String
        public var epsilon: String
        public var cumulativeEpsilon: String
        public var delta: String
        public var accepted: Int
        public var rejected: Int
        public init(version: Int, roundID: Int, modelVersion: String, published: String, epsilon: String, cumulativeEpsilon: String,
                    delta: String, accepted: Int, rejected: Int) {
            self.version = version
            self.roundID = roundID
            self.modelVersion = modelVersion
            self.published = published
            self.epsilon = epsilon
            self.cumulativeEpsilon = cumulativeEpsilon
            self.delta = delta
            self.accepted = accepted
            self.rejected = rejected
        }
    }

    public var rounds: Rounds?
    public var releases: [Release]
    public init(rounds: Rounds?, releases: [Release]) {
        self.rounds = rounds
        self.releases = releases
    }
}

public struct CompliancePage: Sendable {
    public struct Filter: Sendable {
        public var subject: String
        public var site: String
        public var purpose: String
        public var from: String
        public var to: String
        public var purposes: [Option]
        public init(subject: String, site: String, purpose: String, from: String, to: String, purposes: [Option]) {
            self.subject = subject
            self.site = site
            self.purpose = purpose
            self.from = from
            self.to = to
            self.purposes = purposes
        }
    }

    public struct Option: Sendable {
        public var value: String
        public var selected: Bool
        public init(value: String, selected: Bool) {
            self.value = value
            self.selected = selected
        }
    }

    public struct ConsentRecord: Sendable {
        public var occurred: String
        public var subject: String
        public var purpose: String
        public var kind: String
        public var site: String
        public var device: String
        public var textVersion: String
        public var refusal: String?
        public init(occurred: String, subject: String, purpose: String, kind: String, site: String, device: String, textVersion: String,
                    refusal: String?) {
            self.occurred = occurred
            self.subject = subject
            self.purpose = purpose
            self.kind = kind
            self.site = site
            self.device = device
            self.textVersion = textVersion
            self.refusal = refusal
        }
    }

    public struct Withdrawal: Sendable {
        public var subject: String
        public var purpose: String
        public var withdrawn: String
        public var erased: String
        public var timeToErasure: String
        public var processedAfter: Int
        public init(subject: String, purpose: String, withdrawn: String, erased: String, timeToErasure: String, processedAfter: Int) {
            self.subject = subject
            self.purpose = purpose
            self.withdrawn = withdrawn
            self.erased = erased
            self.timeToErasure = timeToErasure
            self.processedAfter = processedAfter
        }
    }

    public struct RetentionDue: Sendable {
        public var jurisdiction: String
        public var purpose: String
        public var outcomes: Int
        public var oldest: String
        public init(jurisdiction: String, purpose: String, outcomes: Int, oldest: String) {
            self.jurisdiction = jurisdiction
            self.purpose = purpose
            self.outcomes = outcomes
            self.oldest = oldest
        }
    }

    public struct RetentionRule: Sendable {
        public var jurisdiction: String
        public var purpose: String
        public var days: Int
        public init(jurisdiction: String, purpose: String, days: Int) {
            self.jurisdiction = jurisdiction
            self.purpose = purpose
            self.days = days
        }
    }

    public struct Checkpoint: Sendable {
        public var treeSize: Int
        public var rootHash: String
        public var timestamp: String
        public init(treeSize: Int, rootHash: String, timestamp: String) {
            self.treeSize = treeSize
            self.rootHash = rootHash
            self.timestamp = timestamp
        }
    }

    /// The answer of the verify button: the CLI's offline check run on a bundle from the
    /// chosen checkpoint to the log as it is now.
    public struct Verification: Sendable {
        public var since: Int
        public var valid: Bool
        public var summary: String
        public var failures: [String]
        public init(since: Int, valid: Bool, summary: String, failures: [String]) {
            self.since = since
            self.valid = valid
            self.summary = summary
            self.failures = failures
        }
    }

    public var filter: Filter
    public var consentTotal: Int
    public let consentRecords: [ConsentRecord]
    public let consentShown: Int
    public var consentTruncated: Bool
    public var withdrawals: [Withdrawal]
    public var retentionDue: [RetentionDue]
    public var retentionRules: [RetentionRule]
    public var auditTreeSize: Int
    public var checkpoints: [Checkpoint]
    public var verification: Verification?
    public init(filter: Filter, consentTotal: Int, consentRecords: [ConsentRecord], consentTruncated: Bool, withdrawals: [Withdrawal],
                retentionDue: [RetentionDue], retentionRules: [RetentionRule], auditTreeSize: Int, checkpoints: [Checkpoint],
                verification: Verification?) {
        self.filter = filter
        self.consentTotal = consentTotal
        self.consentRecords = consentRecords
        consentShown = consentRecords.count
        self.consentTruncated = consentTruncated
        self.withdrawals = withdrawals
        self.retentionDue = retentionDue
        self.retentionRules = retentionRules
        self.auditTreeSize = auditTreeSize
        self.checkpoints = checkpoints
        self.verification = verification
    }
}
