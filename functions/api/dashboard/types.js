// @ts-check
// The API's shapes, from the TypeScript types generated from its OpenAPI document
// (clients/typescript/src/api.d.ts, openapi-typescript): one source of truth with the client.
// This module only declares types; it exports nothing at run time.

/** @typedef {import("../../../clients/typescript/src/api.js").components["schemas"]} Schemas */
/** @typedef {Schemas["ScheduleListItem"]} ScheduleListItem */
/** @typedef {Schemas["ScheduleView"]} ScheduleView */
/** @typedef {Schemas["ScheduleDetail"]} ScheduleDetail */
/** @typedef {Schemas["SchedulePage"]} SchedulePage */
/** @typedef {Schemas["ScheduleCreate"]} ScheduleCreate */
/** @typedef {Schemas["ScheduleUpdate"]} ScheduleUpdate */
/** @typedef {Schemas["LastRun"]} LastRun */
/** @typedef {Schemas["Run"]} Run */
/** @typedef {Schemas["RunPage"]} RunPage */
/** @typedef {Schemas["RunAccepted"]} RunAccepted */
/** @typedef {Schemas["CronPreview"]} CronPreview */
/** @typedef {Schemas["CronPreviewRequest"]} CronPreviewRequest */
/** @typedef {Schemas["DstNote"]} DstNote */
/** @typedef {Schemas["Workflow"]} Workflow */
/** @typedef {Schemas["WorkflowPage"]} WorkflowPage */
/** @typedef {Schemas["ErrorBody"]} ErrorBody */
/** @typedef {Schemas["AuditEvent"]} AuditEvent */
/** @typedef {Schemas["AuditEventPage"]} AuditEventPage */
/** @typedef {Schemas["BulkChangeResult"]} BulkChangeResult */
/** @typedef {Schemas["ScheduleAccounting"]} ScheduleAccounting */
/** @typedef {Schemas["AccountingTotals"]} AccountingTotals */
/** @typedef {Schemas["ScheduleException"]} ScheduleException */
/** @typedef {Schemas["Calendar"]} Calendar */
/** @typedef {Schemas["CalendarPage"]} CalendarPage */
/** @typedef {Schemas["CalendarPreview"]} CalendarPreview */

export {};
