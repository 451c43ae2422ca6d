// Entry point: loads every page module so each registers its route, then
// starts the router and the live event stream.

import { start } from "./app.js";
import "./dashboard.js";
import "./tasks.js";
import "./forms.js";

start();
