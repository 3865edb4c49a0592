// The overview: a tile per bay with its latest readings judged against the stage's band.
import { api } from "./api.js";
import { $, band, h, reading, replace } from "./dom.js";
import { ago, daysBetween, now } from "./time.js";

// The order a grower scans a bay in; other sensor types follow.
const ORDER = ["ph", "ec", "temperature", "water_level", "air_temperature", "humidity"];
export const LABELS = { ph: "pH", ec: "EC", temperature: "Water temp", water_level: "Water level",
                        air_temperature: "Air temp", humidity: "Humidity" };
const STATUS = { in_band: "in band", near_edge: "near the edge", out_of_band: "out of band", no_band: "no band",
                 no_reading: "no reading" };

let latest = null;  // the last overview, shared with the charts (bays, types, stage bands)

export async function load() {
  latest = await api("api/dashboard/overview");
  return latest;
}

export const last = () => latest;

function rank(type) {
  const index = ORDER.indexOf(type);
  return index === -1 ? ORDER.length : index;
}

function sensorRow(location, sensor) {
  const label = LABELS[sensor.sensor_type] || sensor.sensor_type;
  const status = sensor.stale ? `${STATUS[sensor.status]}, stale` : STATUS[sensor.status];
  return h("li", { class: `metric ${sensor.status}${sensor.stale ? " stale" : ""}`, dataset: { type: sensor.sensor_type } },
    h("a", { href: `#charts?location=${encodeURIComponent(location)}&type=${sensor.sensor_type}`,
             "aria-label": `${label} ${reading(sensor.value, sensor.unit)}, ${status}: open its chart` },
      h("span", { class: "name" }, label),
      h("span", { class: "value" }, reading(sensor.value, sensor.unit)),
      h("span", { class: "band" }, band(sensor.band)),
      h("span", { class: "state" }, STATUS[sensor.status]),
      sensor.stale ? h("span", { class: "age" }, `stale, ${ago(sensor.recorded_at)}`) : null));
}

function tile(bay) {
  const crop = bay.crop;
  const stage = crop && crop.stage
    ? `${crop.variety} · ${crop.stage}, day ${daysBetween(crop.stage_started_at, now().toISO()) + 1}` : "no active crop";
  const sensors = [...bay.sensors].sort((a, b) => rank(a.sensor_type) - rank(b.sensor_type) || a.sensor.localeCompare(b.sensor));
  return h("article", { class: "tile", dataset: { location: bay.location }, "aria-label": bay.location },
    h("header", {},
      h("h3", {}, bay.location),
      h("a", { class: `alerts-badge${bay.open_alerts ? " has" : ""}${bay.critical_alerts ? " critical" : ""}`, href: "#alerts" },
        `${bay.open_alerts} open alert${bay.open_alerts === 1 ? "" : "s"}`)),
    h("p", { class: "crop" }, stage),
    h("ul", { class: "metrics" }, sensors.map((sensor) => sensorRow(bay.location, sensor))));
}

export async function render() {
  const data = await load();
  replace($("#tiles"), data.locations.length ? data.locations.map(tile)
    : h("p", {}, "No sensors or crops yet: readings appear here as soon as the first device reports."));
}
