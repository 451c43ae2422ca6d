// Entry point: loads every page module so each registers its route, then
// starts the router and the live event stream.

import { start } from "./app.js";
import "./dashboard.js";
import "./tasks.js";
import "./forms.js";
import { markSeen } from "./since.js";

start();
// The "since you left" view starts from the last moment the UI was open.
markSeen();
setInterval(markSeen, 60000);
addEventListener("pagehide", markSeen);
