// An independent OCPP charge point for vgi's CSMS interop test: ocpp-rpc 2.2.1 in strict mode (every call and
// response, both directions, checked against the OCPP JSON schemas by ocpp-rpc itself).
//
// usage: node charge_point.js <endpoint ws://host:port/ocpp> <identity> <password> <ocpp1.6|ocpp2.0.1>
//
// It boots, reports its status, authorizes, starts a transaction on connector/EVSE 1, sends meter values, then
// waits for the CSMS: it accepts SetChargingProfile (keeping the profile), answers GetCompositeSchedule from the
// profile it holds, and on ClearChargingProfile clears it, stops the transaction and exits 0.  Every message it
// receives from the CSMS is printed on stdout as one JSON line; so are its own milestones.
'use strict';
const { RPCClient } = require('ocpp-rpc');

const [endpoint, identity, password, protocol] = process.argv.slice(2);
if (!endpoint || !identity || !password || !['ocpp1.6', 'ocpp2.0.1'].includes(protocol)) {
  console.error('usage: node charge_point.js <endpoint> <identity> <password> <ocpp1.6|ocpp2.0.1>');
  process.exit(64);
}
const v16 = protocol === 'ocpp1.6';
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const watchdog = setTimeout(() => { console.error('timed out waiting for the CSMS'); process.exit(3); }, 60000);

const cli = new RPCClient({ endpoint, identity, password, protocols: [protocol], strictMode: true, reconnect: false });
cli.on('strictValidationFailure', (e) => { console.error('strict validation failure', e); process.exitCode = 4; });

let profile = null; // the one charging profile installed
let transactionId = null;
const t0 = new Date(Date.UTC(2026, 2, 1, 8, 0, 0));
const at = (s) => new Date(t0.getTime() + s * 1000).toISOString();

cli.handle('SetChargingProfile', ({ params }) => {
  say({ event: 'SetChargingProfile', params });
  profile = v16 ? params.csChargingProfiles : params.chargingProfile;
  return { status: 'Accepted' };
});

cli.handle('GetCompositeSchedule', ({ params }) => {
  say({ event: 'GetCompositeSchedule', params });
  if (!profile) return { status: 'Rejected' };
  // With a single Absolute profile installed, the composite schedule is that profile's schedule, cut to the
  // requested duration.
  const sched = v16 ? profile.chargingSchedule : profile.chargingSchedule[0];
  const duration = Math.min(params.duration, sched.duration);
  const periods = sched.chargingSchedulePeriod.filter((p) => p.startPeriod < duration);
  if (v16) {
    return {
      status: 'Accepted', connectorId: params.connectorId, scheduleStart: sched.startSchedule,
      chargingSchedule: { duration, startSchedule: sched.startSchedule, chargingRateUnit: sched.chargingRateUnit,
        chargingSchedulePeriod: periods },
    };
  }
  return {
    status: 'Accepted',
    schedule: { evseId: params.evseId, duration, scheduleStart: sched.startSchedule,
      chargingRateUnit: sched.chargingRateUnit, chargingSchedulePeriod: periods },
  };
});

cli.handle('ClearChargingProfile', ({ params }) => {
  say({ event: 'ClearChargingProfile', params });
  const had = profile !== null;
  profile = null;
  setImmediate(() => stop().catch(fail));
  return { status: had ? 'Accepted' : 'Unknown' };
});

cli.handle(({ method, params }) => {
  say({ event: 'unexpected', method, params });
  throw new Error(`not handled: ${method}`);
});

function fail(err) {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
}

async function start16() {
  const boot = await cli.call('BootNotification', { chargePointVendor: 'ocpp-rpc', chargePointModel: 'interop-16' });
  say({ event: 'boot', status: boot.status });
  await cli.call('Heartbeat', {});
  await cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: at(0) });
  const auth = await cli.call('Authorize', { idTag: 'TAG-INTEROP' });
  const st = await cli.call('StartTransaction', { connectorId: 1, idTag: 'TAG-INTEROP', meterStart: 12000,
    timestamp: at(0) });
  transactionId = st.transactionId;
  await cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: at(1) });
  await cli.call('MeterValues', { connectorId: 1, transactionId, meterValue: [{ timestamp: at(900), sampledValue: [
    { value: '13.85', unit: 'kWh', measurand: 'Energy.Active.Import.Register', context: 'Sample.Periodic' },
    { value: '7400', unit: 'W', measurand: 'Power.Active.Import', context: 'Sample.Periodic' },
  ] }] });
  say({ event: 'ready', authorized: auth.idTagInfo.status, transactionId });
}

async function start201() {
  const boot = await cli.call('BootNotification', { reason: 'PowerUp',
    chargingStation: { vendorName: 'ocpp-rpc', model: 'interop-201' } });
  say({ event: 'boot', status: boot.status });
  await cli.call('Heartbeat', {});
  await cli.call('StatusNotification', { timestamp: at(0), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });
  const auth = await cli.call('Authorize', { idToken: { idToken: 'TAG-INTEROP', type: 'ISO14443' } });
  transactionId = 'interop-tx-1';
  await cli.call('TransactionEvent', { eventType: 'Started', timestamp: at(0), triggerReason: 'Authorized', seqNo: 0,
    transactionInfo: { transactionId }, evse: { id: 1, connectorId: 1 },
    idToken: { idToken: 'TAG-INTEROP', type: 'ISO14443' },
    meterValue: [{ timestamp: at(0), sampledValue: [
      { value: 12000, context: 'Transaction.Begin', measurand: 'Energy.Active.Import.Register' }] }] });
  await cli.call('TransactionEvent', { eventType: 'Updated', timestamp: at(900), triggerReason: 'MeterValuePeriodic',
    seqNo: 1, transactionInfo: { transactionId, chargingState: 'Charging' },
    meterValue: [{ timestamp: at(900), sampledValue: [
      { value: 13.85, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'kWh' } },
      { value: 7.4, measurand: 'Power.Active.Import', unitOfMeasure: { unit: 'W', multiplier: 3 } }] }] });
  await cli.call('MeterValues', { evseId: 1, meterValue: [{ timestamp: at(1200), sampledValue: [
    { value: 7300, measurand: 'Power.Active.Import', unitOfMeasure: { unit: 'W' } }] }] });
  say({ event: 'ready', authorized: auth.idTokenInfo.status, transactionId });
}

async function stop() {
  if (v16) {
    await cli.call('StopTransaction', { transactionId, meterStop: 15700, timestamp: at(1800), reason: 'EVDisconnected',
      transactionData: [{ timestamp: at(1800), sampledValue: [
        { value: '15700', unit: 'Wh', measurand: 'Energy.Active.Import.Register', context: 'Transaction.End' }] }] });
  } else {
    await cli.call('TransactionEvent', { eventType: 'Ended', timestamp: at(1800), triggerReason: 'EVCommunicationLost',
      seqNo: 2, transactionInfo: { transactionId, stoppedReason: 'EVDisconnected' },
      meterValue: [{ timestamp: at(1800), sampledValue: [
        { value: 15.7, context: 'Transaction.End', measurand: 'Energy.Active.Import.Register',
          unitOfMeasure: { unit: 'kWh' } }] }] });
  }
  say({ event: 'stopped' });
  clearTimeout(watchdog);
  await cli.close({ code: 1000 });
  process.exit(process.exitCode || 0);
}

(async () => {
  await cli.connect();
  say({ event: 'connected', protocol: cli.protocol });
  await (v16 ? start16() : start201());
})().catch(fail);
