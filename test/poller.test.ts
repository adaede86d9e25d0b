import t from 'tap'
import { Poller, startPoller } from '../src/poller.js'
import { sleep } from './helper.js'

t.test('a run at a time: ticks that fall due during a run are skipped', async (t) => {
  let runs = 0
  let release: () => void = () => {}
  const poller = new Poller(async () => {
    runs++
    await new Promise<void>((resolve) => { release = resolve })
  }, 10)
  t.teardown(() => { poller.close() })
  await sleep(100)
  t.equal(runs, 1)
  t.equal(poller.busy, true)
  release()
  await sleep(30)
  t.ok(runs >= 2, 'the next tick runs again')
})

t.test('a failing run (thrown or rejected) goes to onError, and the next tick runs', async (t) => {
  const errors: unknown[] = []
  let runs = 0
  const poller = new Poller(async () => {
    runs++
    if (runs === 1) throw new Error('store down')
  }, 10, (err) => errors.push(err))
  const throwing = new Poller((() => { throw new Error('before any await') }) as unknown as () => Promise<void>, 10, (err) => errors.push(err))
  t.teardown(() => { poller.close(); throwing.close() })
  await sleep(60)
  t.ok(runs >= 2)
  t.ok(errors.some((e) => (e as Error).message === 'store down'))
  t.ok(errors.some((e) => (e as Error).message === 'before any await'))
  t.equal(poller.busy, false)
})

t.test('closed: no more runs; startPoller(…, 0) makes none', async (t) => {
  let runs = 0
  const poller = new Poller(async () => { runs++ }, 10)
  await sleep(35)
  poller.close()
  const seen = runs
  await sleep(40)
  t.equal(runs, seen)
  t.equal(startPoller(async () => { runs++ }, 0), null)
})
