/// The Mustache templates of the pages. `{{…}}` escapes for HTML; only the server's own
/// SVG (drawn by the Charts module, which escapes every text it takes) and the stylesheet are
/// inserted raw with `{{{…}}}`.
enum Templates {
    static let layout = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · FaceLoop</title><link rel="icon" href="data:,">{{#chrome}}<meta name="csrf-token" content="{{csrf}}">{{/chrome}}
        <style>{{{stylesheet}}}</style></head>
        <body><header><strong>FaceLoop</strong>
        {{#chrome}}<nav>{{#links}}<a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a>{{/links}}</nav>
        <form method="post" action="/ui/sign-out"><span id="signed-in-as" data-role="{{role}}">{{user}} · {{role}}</span>
        <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Sign out</button></form>{{/chrome}}
        </header>
        <main>{{{body}}}</main></body></html>
        """

    static let signIn = """
        <div class="signin"><h1>Sign in</h1>
        <p class="muted">Paste the API token an administrator issued to you (<code>faceloop tokens create</code>).
        The page keeps it in a cookie for this browser session only.</p>
        {{#error}}<p class="error" id="sign-in-error">{{error}}</p>{{/error}}
        <form method="post" action="/ui/sign-in"><label for="token">Token</label>
        <input id="token" name="token" type="password" autocomplete="off" required>
        <button type="submit" id="sign-in">Sign in</button></form></div>
        """

    static let error = """
        <h1 id="error-status" data-status="{{status}}">{{heading}}</h1><p id="error-detail">{{detail}}</p>
        <p><a href="/ui">Back to the start page</a></p>
        """

    static let fleet = """
        {{#page}}<h1>Fleet</h1>
        {{#devices}}
        <dl class="figures">
        <div><dt>kiosks enrolled</dt><dd data-field="kiosks">{{enrolled}}</dd></div>
        <div><dt>active</dt><dd data-field="active">{{active}}</dd></div>
        <div><dt>queue backlog reported</dt><dd data-field="backlog-total">{{backlogTotal}}</dd></div>
        </dl>
        <h2>Kiosks</h2>
        <table id="kiosks"><thead><tr><th>kiosk</th><th>status</th><th>sites</th><th>certificate expires</th><th>last upload</th><th class="n">queue backlog</th><th>backlog reported</th>
        <th class="n">batches</th><th class="n">outcomes accepted</th><th class="n">events refused</th></tr></thead><tbody>
        {{#kiosks}}<tr data-kiosk="{{deviceID}}"{{#revoked}} class="revoked"{{/revoked}}><td>{{deviceID}}</td><td data-field="status">{{status}}</td>
        <td data-field="sites">{{sites}}</td><td data-field="certificate-expires"{{#certificateExpiring}} class="warn"{{/certificateExpiring}}>{{certificateExpires}}</td>
        <td data-field="last-upload">{{lastUpload}}</td><td class="n" data-field="backlog">{{backlog}}</td><td data-field="backlog-reported">{{backlogReportedAt}}</td>
        <td class="n" data-field="batches">{{batches}}</td><td class="n" data-field="events">{{events}}</td><td class="n" data-field="refused">{{refused}}</td></tr>
        {{/kiosks}}{{^kiosks}}<tr><td colspan="10" class="muted">No kiosk is enrolled.</td></tr>{{/kiosks}}
        </tbody></table>
        <h2>Rejections by reason</h2>
        <p class="muted">Events of accepted uploads that the server did not store, by the reason their receipts gave.</p>
        <table id="rejections"><thead><tr><th>reason</th><th class="n">events</th></tr></thead><tbody>
        {{#rejections}}<tr data-reason="{{name}}"><td>{{name}}</td><td class="n" data-field="events">{{events}}</td></tr>{{/rejections}}
        {{^rejections}}<tr><td colspan="2" class="muted">No event has been refused.</td></tr>{{/rejections}}
        </tbody></table>
        {{/devices}}
        {{#outcomes}}
        <h2>Stored outcomes</h2>
        <dl class="figures">
        <div><dt>outcomes</dt><dd data-field="total-events">{{totalEvents}}</dd></div>
        <div><dt>batches</dt><dd data-field="total-batches">{{totalBatches}}</dd></div>
        <div><dt>genuine</dt><dd data-field="genuine">{{genuine}}</dd></div>
        <div><dt>impostor</dt><dd data-field="impostor">{{impostor}}</dd></div>
        <div><dt>unknown</dt><dd data-field="unknown">{{unknown}}</dd></div>
        </dl>
        <div class="charts">
        <table id="outcomes-by-cohort"><thead><tr><th>site / camera model</th><th class="n">outcomes</th></tr></thead><tbody>
        {{#byCohort}}<tr data-cohort="{{name}}"><td>{{name}}</td><td class="n" data-field="events">{{events}}</td></tr>{{/byCohort}}
        </tbody></table>
        <table id="outcomes-by-kiosk"><thead><tr><th>kiosk</th><th class="n">outcomes</th></tr></thead><tbody>
        {{#byKiosk}}<tr data-kiosk="{{name}}"><td>{{name}}</td><td class="n" data-field="events">{{events}}</td></tr>{{/byKiosk}}
        </tbody></table>
        </div>
        {{/outcomes}}
        {{/page}}
        """

    static let calibration = """
        {{#page}}<h1>Calibration</h1>
        <h2>Threshold releases</h2>
        <table id="releases"><thead><tr><th class="n">version</th><th>state</th><th>policy</th><th class="n">cohorts</th><th class="n">refused</th>
        <th>computed</th><th>approvals</th><th>published</th><th class="n">largest move</th><th></th></tr></thead><tbody>
        {{#releases}}<tr data-release="{{version}}"><td class="n">{{version}}</td><td data-field="state">{{state}}</td><td>{{policy}}</td>
        <td class="n" data-field="cohorts">{{cohorts}}</td><td class="n">{{refused}}</td><td>{{computed}}</td><td data-field="approvals">{{approvals}}</td>
        <td>{{published}}</td><td class="n">{{largestChange}}</td>
        <td>{{#canApprove}}<form class="inline" method="post" action="/ui/calibration/releases/{{version}}/approve"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" data-action="approve">Approve</button></form>{{/canApprove}}
        {{#canPublish}}<form class="inline" method="post" action="/ui/calibration/releases/{{version}}/publish"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" data-action="publish">Publish</button></form>{{/canPublish}}</td></tr>
        {{/releases}}{{^releases}}<tr><td colspan="10" class="muted">No release has been computed yet (<code>faceloop thresholds compute</code>).</td></tr>{{/releases}}
        </tbody></table>
        <h2>Model rollouts</h2>
        <p class="muted">Model releases past candidate, newest first. While a release is in shadow or canary, each chart draws the model that
        decided in a cohort and the candidate on the same attempts since it went into shadow (one scored in shadow beside the other), with each
        model's threshold in the newest published threshold release. The figures are those of the paired comparison the last step was decided on.</p>
        {{#rollouts}}<section class="cohort" data-rollout="{{version}}">
        <h3>Model release {{version}} · {{modelVersion}} · <span class="stage" data-field="stage" data-stage="{{stage}}">{{stageLabel}}</span></h3>
        <table class="rollout"><tbody>
        <tr><th>cohorts</th><td data-field="cohorts">{{#promotedCohorts}}<div>{{.}}</div>{{/promotedCohorts}}{{^promotedCohorts}}<span class="muted">none promoted</span>{{/promotedCohorts}}</td></tr>
        {{#canary}}<tr><th>canary</th><td data-field="canary">{{.}}</td></tr>{{/canary}}
        <tr><th>approvals</th><td data-field="approvals">{{#approvals}}<div>{{.}}</div>{{/approvals}}{{^approvals}}<span class="muted">none</span>{{/approvals}}</td></tr>
        {{#fleetApprovals}}<tr><th>fleet approvals</th><td data-field="fleet-approvals">{{.}}</td></tr>{{/fleetApprovals}}
        {{#reason}}<tr><th>reason</th><td data-field="reason">{{.}}</td></tr>{{/reason}}
        <tr><th>updated</th><td>{{updated}}</td></tr>
        <tr><th>paired test</th><td data-field="comparison">{{#comparison}}{{.}}{{/comparison}}{{#comparisonError}}<span class="error">{{.}}</span>{{/comparisonError}}{{^comparison}}{{^comparisonError}}<span class="muted">none stored</span>{{/comparisonError}}{{/comparison}}</td></tr>
        </tbody></table>
        {{#pairs}}<div class="paired" data-paired="{{key}}">
        <h4>{{cameraModel}} · {{site}}: {{currentModelVersion}} (current) against {{candidateModelVersion}} (candidate)</h4>
        {{#scored}}<p><span data-field="genuine">{{genuine}}</span> genuine and <span data-field="impostors">{{impostors}}</span> impostor attempts scored by both models,
        from <span data-field="subjects">{{subjects}}</span> subjects.</p>{{/scored}}
        {{^scored}}<p class="muted">No attempt of this cohort scored by both models is among the outcomes read now.</p>{{/scored}}
        <div class="charts">{{#detSVG}}{{{.}}}{{/detSVG}}{{^detSVG}}{{#scored}}<p class="muted">A DET curve needs genuine and impostor attempts scored by both models.</p>{{/scored}}{{/detSVG}}
        <div><table class="thresholds"><thead><tr><th></th><th>model</th><th class="n">published threshold</th><th class="n">FMR at it</th><th class="n">FNMR at it</th></tr></thead><tbody>
        {{#thresholds}}<tr data-role="{{role}}"><td>{{role}}</td><td>{{modelVersion}}</td>{{#threshold}}<td class="n" data-field="threshold">{{.}}</td><td class="n" data-field="fmr">{{falseMatchRate}}</td><td class="n" data-field="fnmr">{{falseNonMatchRate}}</td>{{/threshold}}{{^threshold}}<td colspan="3" class="muted">none published for this cohort</td>{{/threshold}}</tr>
        {{/thresholds}}
        </tbody></table>
        {{#test}}<table class="paired-test" data-verdict="{{verdict}}"><tbody>
        <tr><th>verdict</th><td data-field="verdict"><span class="{{#offersPromotion}}stable{{/offersPromotion}}{{^offersPromotion}}flag{{/offersPromotion}}">{{verdict}}</span> {{reason}}</td></tr>
        {{#figures}}<tr><th>attempts</th><td data-field="attempts">{{attempts}}</td></tr>
        <tr><th>thresholds</th><td data-field="test-thresholds">{{thresholds}}</td></tr>
        <tr><th>FNMR current → candidate</th><td data-field="fnmr-change"><span data-field="fnmr-current">{{currentFNMR}}</span> → <span data-field="fnmr-candidate">{{candidateFNMR}}</span></td></tr>
        <tr><th>FNMR difference</th><td data-field="fnmr-difference">{{fnmrDifference}}</td></tr>
        <tr><th>McNemar</th><td data-field="mcnemar">b = <span data-field="mcnemar-b">{{candidateWorse}}</span> (only current accepts), c = <span data-field="mcnemar-c">{{candidateBetter}}</span> (only candidate accepts),
        p = <span data-field="mcnemar-p">{{mcnemarPValue}}</span></td></tr>
        <tr><th>FMR current, candidate</th><td data-field="fmr">{{currentFMR}}, {{candidateFMR}}</td></tr>
        <tr><th>FMR upper bound current, candidate</th><td data-field="fmr-upper-bounds"><span data-field="fmr-upper-current">{{currentFMRUpperBound}}</span>, <span data-field="fmr-upper-candidate">{{candidateFMRUpperBound}}</span></td></tr>{{/figures}}
        </tbody></table>{{/test}}{{^test}}<p class="muted">The stored comparison does not cover this cohort.</p>{{/test}}</div></div>
        </div>{{/pairs}}
        {{^pairs}}<p class="muted">No attempt has been scored by this release and the model it would replace yet.</p>{{/pairs}}
        </section>{{/rollouts}}
        {{^rollouts}}<p class="muted">No model release is past candidate (<code>faceloop models shadow</code> starts a rollout).</p>{{/rollouts}}
        <h2>Cohorts</h2>
        <p class="muted">Score distributions and DET curves of all stored outcomes per model version, camera model and site.
        Solid: the released threshold kiosks use now; dashed: the newest threshold awaiting approval or publication.</p>
        {{#cohortPages}}<p id="drift-summary">Drift since the published release: <span data-field="flagged-count">{{flaggedCount}}</span> of the cohorts flagged.</p>
        {{#hasFlagged}}<table id="flagged-cohorts"><thead><tr><th>cohort</th><th>flags</th></tr></thead><tbody>
        {{#flagged}}<tr data-cohort="{{key}}"><td><a href="{{link}}">{{key}}</a></td><td>{{#flags}}<span class="flag" data-flag="{{.}}">{{.}}</span>{{/flags}}</td></tr>{{/flagged}}
        </tbody></table>{{/hasFlagged}}
        <nav class="pages" id="cohort-pages"><span data-field="cohort-range">{{range}}</span>{{#previous}} · <a href="{{.}}" rel="prev">previous</a>{{/previous}}{{#next}} · <a href="{{.}}" rel="next">next</a>{{/next}}</nav>{{/cohortPages}}
        {{#cohorts}}<section class="cohort" data-cohort="{{key}}">
        <h3>{{modelVersion}} · {{cameraModel}} · {{site}}</h3>
        <p><span data-field="genuine">{{genuine}}</span> genuine, <span data-field="impostors">{{impostors}}</span> impostor attempts.
        Drift: {{#driftChecked}}{{#driftFlags}}<span class="flag" data-flag="{{.}}">{{.}}</span>{{/driftFlags}}{{^driftFlags}}<span class="stable" data-flag="none">no flag</span>{{/driftFlags}}{{/driftChecked}}{{^driftChecked}}<span class="muted">not checked (no published release covers this cohort, or no outcome since it)</span>{{/driftChecked}}</p>
        <table class="thresholds"><thead><tr><th></th><th class="n">release</th><th class="n">threshold</th><th>from</th><th class="n">FMR at it</th><th class="n">FNMR at it</th></tr></thead><tbody>
        {{#thresholds}}<tr data-kind="{{kind}}"><td>{{kind}}</td><td class="n">{{version}}</td><td class="n" data-field="threshold">{{threshold}}</td><td>{{level}}</td>
        <td class="n" data-field="fmr">{{falseMatchRate}}</td><td class="n" data-field="fnmr">{{falseNonMatchRate}}</td></tr>{{/thresholds}}
        {{^thresholds}}<tr><td colspan="6" class="muted">No release covers this cohort.</td></tr>{{/thresholds}}
        </tbody></table>
        <div class="charts">{{{histogramSVG}}}{{#detSVG}}{{{.}}}{{/detSVG}}{{^detSVG}}<p class="muted">A DET curve needs genuine and impostor attempts.</p>{{/detSVG}}</div>
        </section>{{/cohorts}}
        {{^cohorts}}<p class="muted">No labelled outcome is stored yet.</p>{{/cohorts}}
        {{/page}}
        """

    static let federation = """
        {{#page}}<h1>Federation</h1>
        {{#rounds}}
        <h2>Privacy budget</h2>
        <p id="budget">ε spent <strong data-field="epsilon-spent">{{epsilonSpent}}</strong> of <strong data-field="epsilon-budget">{{epsilonBudget}}</strong>
        at δ = {{delta}} ({{accountant}} accountant)</p>
        {{{budgetSVG}}}
        <h2>Rounds</h2>
        <table id="rounds"><thead><tr><th class="n">round</th><th>state</th><th>opened</th><th>deadline</th><th>parameters</th><th class="n">selected</th>
        <th class="n">updates</th><th class="n">participation</th><th class="n">aggregated</th><th>rejected by the robust aggregation</th><th class="n">adjusted</th><th>release</th></tr></thead><tbody>
        {{#list}}<tr data-round="{{id}}"><td class="n">{{id}}</td><td data-field="state">{{state}}</td><td>{{opened}}</td><td>{{deadline}}</td><td>{{parameters}}</td>
        <td class="n" data-field="selected">{{selected}}</td><td class="n" data-field="received">{{received}}</td><td class="n">{{participation}}</td>
        <td class="n" data-field="accepted">{{accepted}}</td><td data-field="rejections">{{#rejections}}<div>{{.}}</div>{{/rejections}}{{^rejections}}<span class="muted">none</span>{{/rejections}}</td>
        <td class="n">{{adjusted}}</td><td>{{releaseVersion}}</td></tr>
        {{/list}}{{^list}}<tr><td colspan="12" class="muted">No round has been opened.</td></tr>{{/list}}
        </tbody></table>
        {{/rounds}}
        <h2>Model releases</h2>
        <table id="model-releases"><thead><tr><th class="n">version</th><th class="n">round</th><th>model</th><th>published</th><th class="n">ε of the release</th>
        <th class="n">ε cumulative</th><th class="n">δ</th><th class="n">updates aggregated</th><th class="n">updates rejected</th></tr></thead><tbody>
        {{#releases}}<tr data-model-release="{{version}}"><td class="n">{{version}}</td><td class="n">{{roundID}}</td><td>{{modelVersion}}</td><td>{{published}}</td>
        <td class="n" data-field="epsilon">{{epsilon}}</td><td class="n">{{cumulativeEpsilon}}</td><td class="n">{{delta}}</td><td class="n">{{accepted}}</td><td class="n">{{rejected}}</td></tr>
        {{/releases}}{{^releases}}<tr><td colspan="9" class="muted">No model release has been published.</td></tr>{{/releases}}
        </tbody></table>
        {{/page}}
        """

    static let compliance = """
        {{#page}}<h1>Compliance</h1>
        {{#verification}}<section id="verification" data-valid="{{valid}}" class="cohort">
        <h3>Audit log check since the checkpoint of tree size {{since}}</h3>
        {{#valid}}<p class="valid">{{summary}}</p>{{/valid}}
        {{^valid}}<p class="error">The check failed:</p><ul>{{#failures}}<li>{{.}}</li>{{/failures}}</ul>{{/valid}}
        </section>{{/verification}}
        <h2>Withdrawals</h2>
        <table id="withdrawals"><thead><tr><th>subject</th><th>purpose</th><th>withdrawn</th><th>erased</th><th class="n">time to erasure</th><th class="n">processed after</th></tr></thead><tbody>
        {{#withdrawals}}<tr><td><code>{{subject}}</code></td><td>{{purpose}}</td><td>{{withdrawn}}</td><td>{{erased}}</td><td class="n" data-field="time-to-erasure">{{timeToErasure}}</td><td class="n" data-field="processed-after">{{processedAfter}}</td></tr>{{/withdrawals}}
        {{^withdrawals}}<tr><td colspan="6" class="muted">No consent has been withdrawn.</td></tr>{{/withdrawals}}
        </tbody></table>
        <h2>Retention</h2>
        <table id="retention-due"><thead><tr><th>jurisdiction</th><th>purpose</th><th class="n">outcomes past retention</th><th>oldest attempt</th></tr></thead><tbody>
        {{#retentionDue}}<tr><td>{{jurisdiction}}</td><td>{{purpose}}</td><td class="n" data-field="outcomes">{{outcomes}}</td><td>{{oldest}}</td></tr>{{/retentionDue}}
        {{^retentionDue}}<tr><td colspan="4" class="muted">Nothing is past its retention period.</td></tr>{{/retentionDue}}
        </tbody></table>
        <table id="retention-rules"><thead><tr><th>jurisdiction</th><th>purpose</th><th class="n">days kept</th></tr></thead><tbody>
        {{#retentionRules}}<tr><td>{{jurisdiction}}</td><td>{{purpose}}</td><td class="n">{{days}}</td></tr>{{/retentionRules}}
        </tbody></table>
        <h2>Audit log</h2>
        <p>The log holds <strong data-field="audit-tree-size">{{auditTreeSize}}</strong> entries. Verify checks a bundle from a checkpoint to now exactly as
        <code>faceloop audit verify</code> does offline: both signatures, every inclusion proof, order and completeness, and the consistency proof.</p>
        <table id="checkpoints"><thead><tr><th class="n">tree size</th><th>root hash</th><th>signed</th><th></th></tr></thead><tbody>
        {{#checkpoints}}<tr data-tree-size="{{treeSize}}"><td class="n">{{treeSize}}</td><td><code>{{rootHash}}</code></td><td>{{timestamp}}</td>
        <td><form class="inline" method="post" action="/ui/compliance/checkpoints/{{treeSize}}/verify"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" data-action="verify">Verify</button></form></td></tr>{{/checkpoints}}
        {{^checkpoints}}<tr><td colspan="4" class="muted">No checkpoint has been signed (<code>faceloop audit checkpoint</code>).</td></tr>{{/checkpoints}}
        </tbody></table>
        {{#filter}}<h2>Consent records</h2>
        <form class="filters" method="get" action="/ui/compliance">
        <label>subject pseudonym<input name="subject" value="{{subject}}" size="20"></label>
        <label>site<input name="site" value="{{site}}" size="12"></label>
        <label>purpose<select name="purpose"><option value="">any</option>{{#purposes}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/purposes}}</select></label>
        <label>from (RFC 3339)<input name="from" value="{{from}}" size="20"></label>
        <label>to (RFC 3339)<input name="to" value="{{to}}" size="20"></label>
        <button type="submit" id="apply-filters">Filter</button></form>{{/filter}}
        <p><span data-field="consent-count">{{consentTotal}}</span> records match{{#consentTruncated}}; the first {{consentShown}} are shown{{/consentTruncated}}.</p>
        <table id="consent-records"><thead><tr><th>occurred</th><th>subject</th><th>purpose</th><th>kind</th><th>site</th><th>kiosk</th><th>text</th><th>refused</th></tr></thead><tbody>
        {{#consentRecords}}<tr><td>{{occurred}}</td><td><code>{{subject}}</code></td><td>{{purpose}}</td><td>{{kind}}</td><td>{{site}}</td><td>{{device}}</td><td>{{textVersion}}</td><td>{{refusal}}</td></tr>{{/consentRecords}}
        </tbody></table>
        {{/page}}
        """
}
