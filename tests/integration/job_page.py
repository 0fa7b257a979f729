"""Issue 16: what the dashboard's job page (web/src/pages/job.ts) shows, read from its test hooks:
#job-ranks (rows tr[data-rank], class "straggler"), #job-matrix (cells td[data-from][data-to], class
"traffic" when bytes moved, "slow-link") and #job-findings (items [data-subject])."""
import urllib.parse

READ = """(() => {
  const rows = [...document.querySelectorAll('#job-ranks tr[data-rank]')];
  const cells = (cls) => [...document.querySelectorAll(`#job-matrix td.${cls}`)];
  return {
    ranks: rows.map(r => Number(r.dataset.rank)),
    stragglers: rows.filter(r => r.classList.contains('straggler')).map(r => Number(r.dataset.rank)),
    slow_links: cells('slow-link').map(c => [Number(c.dataset.from), Number(c.dataset.to)]),
    matrix_cells: cells('traffic').length,
    findings: [...document.querySelectorAll('#job-findings [data-subject]')].map(f => f.dataset.subject),
  };
})()"""


def read_job_page(browser, base_url, job, timeout=15.0):
    """Opens the job's page over the last 5 minutes in `browser` (test_dashboard.Browser) and returns
    what a round finished after the call put on screen; a TimeoutError or AssertionError when none
    does within `timeout` (an unknown job is a 404, no round). As test_dashboard.py's pages do, it
    relies on the tab holding the token already when the server wants one (given once in its token
    bar: sessionStorage, kept across these navigations)."""
    # Opening the URL the tab already shows changes nothing the page counts: zeroing its count of
    # rounds in this view makes open() wait for the next one instead of returning at once.
    browser.eval("(() => { const m = document.querySelector('main'); if (m) m.dataset.viewRounds = '0'; return true; })()")
    # A round on screen holds the ranks table (its answer's ranks, maybe none).
    browser.open(f"{base_url.rstrip('/')}/#/job?job={urllib.parse.quote(job)}&range=5m", timeout=timeout)
    return browser.eval(READ)
