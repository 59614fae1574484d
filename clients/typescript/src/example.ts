// A typed client of the Schedules API with openapi-fetch: every path, parameter, body and answer
// below is checked against src/api.d.ts, generated from the API's OpenAPI document.
//
// It lists the caller's schedules, creates one for the caller's first workflow, pauses it and
// deletes it, printing one line per step. Any API error ends it with exit code 1 and the API's
// message on stderr.
//
//   SCHEDULER_URL=http://127.0.0.1:3000 SCHEDULER_TOKEN=<token> npm run example
//
// (make run prints both; .dev/stack.json holds them as apiUrl and users[].token.)

import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

type Schemas = components["schemas"];
/** What the API (ErrorBody) or API Gateway itself ({message}) answers when a request fails. */
type ApiError =
    | Schemas["ErrorBody"]
    | Schemas["GatewayUnauthorized"]
    | Schemas["GatewayForbidden"];

class ApiFailure extends Error {}

function setting(name: string): string {
    const value = process.env[name];
    if (!value) {
        throw new ApiFailure(`set ${name}`);
    }
    return value;
}

function explain(error: ApiError | string): string {
    if (typeof error === "string") {
        return error; // a body that was not JSON (a proxy in between, say)
    }
    return "error" in error ? `${error.error.code}: ${error.error.message}` : error.message;
}

/** The answer's body, or an ApiFailure saying what the API said. */
function bodyOf<T>(
    step: string,
    result: { data?: T; error?: ApiError | string; response: Response },
): T {
    if (result.error !== undefined || result.data === undefined) {
        const said = result.error === undefined ? "no body" : explain(result.error);
        throw new ApiFailure(`${step}: ${result.response.status} ${said}`);
    }
    return result.data;
}

async function main(): Promise<void> {
    const client = createClient<paths>({
        baseUrl: setting("SCHEDULER_URL"),
        headers: { Authorization: `Bearer ${setting("SCHEDULER_TOKEN")}` },
    });

    const workflows = bodyOf("list workflows", await client.GET("/api/workflows"));
    const workflow = workflows.items[0];
    if (workflow === undefined) {
        throw new ApiFailure("list workflows: the caller has no workflow to schedule");
    }
    console.log(`workflow ${workflow.id} (${workflow.name})`);

    const page = bodyOf(
        "list schedules",
        await client.GET("/api/schedules", { params: { query: { limit: 100 } } }),
    );
    const more = page.nextCursor ? ", more on the next page" : "";
    console.log(`listed ${page.items.length} schedule(s)${more}`);

    const created = bodyOf(
        "create schedule",
        await client.POST("/api/schedules", {
            body: {
                workflowId: workflow.id,
                cron: "0 7 * * MON-FRI",
                timezone: "Europe/Berlin",
                note: "created by the TypeScript example",
            },
        }),
    );
    const nextRun = created.nextRunAt ?? "none";
    console.log(
        `created ${created.id}: ${created.description} (${created.timezone}), next run ${nextRun}`,
    );

    const paused = bodyOf(
        "pause schedule",
        await client.PATCH("/api/schedules/{schedule_id}", {
            params: { path: { schedule_id: created.id } },
            body: { enabled: false },
        }),
    );
    console.log(`paused ${paused.id}: enabled ${paused.enabled}`);

    const deleted = await client.DELETE("/api/schedules/{schedule_id}", {
        params: { path: { schedule_id: created.id } },
    });
    if (deleted.error !== undefined || deleted.response.status !== 204) {
        const said = deleted.error === undefined ? "no error body" : explain(deleted.error);
        throw new ApiFailure(`delete schedule: ${deleted.response.status} ${said}`);
    }
    console.log(`deleted ${created.id}`);
}

main().catch((failure: unknown) => {
    // An API error says what the API said; anything else (the network, a bug) says what it is.
    console.error(`error: ${failure instanceof Error ? failure.message : String(failure)}`);
    process.exitCode = 1;
});
