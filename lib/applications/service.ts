import { randomBytes } from 'node:crypto';
import * as yup from 'yup';
import type { Store } from '../../adapters/index.js';
import { notFound } from '../http/errors.js';
import { requireObject, validateBody } from '../http/validate.js';
import type { ClientService } from '../clients/service.js';
import { changeRecord } from '../records.js';
import { epochSeconds } from '../time.js';

export interface Application {
  app_id: string;
  name: string;
  description?: string;
  created_at: number;
  updated_at: number;
}

const applicationSchema = yup.object({
  name: yup.string().trim().min(1).max(128).required(),
  description: yup.string().max(1024),
}).noUnknown();

const APPS_KEY = 'apps';
const appKey = (id: string) => `app:${id}`;
/** An application being deleted (see addTo); kept far longer than a create can take. */
const deletingKey = (id: string) => `app-deleting:${id}`;
const DELETING_MARK_SECONDS = 3600;

/** Applications group clients (seed 001: "You can manage clients from the Application page"). */
export class ApplicationService {
  constructor(private readonly store: Store, private readonly clients: ClientService) {}

  async create(input: unknown, appId = randomBytes(12).toString('hex')): Promise<Application> {
    const fields = validateBody(applicationSchema, input);
    const app: Application = { app_id: appId, ...fields, created_at: epochSeconds(), updated_at: epochSeconds() };
    await this.store.putJSON(appKey(app.app_id), app);
    await this.store.setAdd(APPS_KEY, app.app_id);
    // a fixed id (the bootstrap application) may come back after a deletion
    await this.store.delete([deletingKey(app.app_id)]);
    return app;
  }

  async get(appId: string): Promise<Application> {
    const app = await this.store.getJSON<Application>(appKey(appId));
    if (!app) throw notFound('Application');
    return app;
  }

  async find(appId: string): Promise<Application | undefined> {
    return this.store.getJSON<Application>(appKey(appId));
  }

  async list(): Promise<Application[]> {
    const ids = await this.store.setMembers(APPS_KEY);
    const apps = await this.store.getManyJSON<Application>(ids.map(appKey));
    return apps.filter((a): a is Application => a !== undefined).sort((a, b) => a.created_at - b.created_at);
  }

  /** Merges a partial body onto the freshest record (never over a newer change or a deletion). */
  async update(appId: string, patch: unknown): Promise<Application> {
    const changes = requireObject(patch);
    const changed = await changeRecord<Application>(this.store, appKey(appId), (current) => {
      const fields = validateBody(applicationSchema, { name: current.name, description: current.description, ...changes });
      return { ...current, ...fields, updated_at: epochSeconds() };
    });
    if (!changed) throw notFound('Application');
    return changed.after;
  }

  /** A change still under way after this finds no record and answers 404 (update's compare-and-set). */
  async delete(appId: string): Promise<void> {
    await this.get(appId);
    // first: whatever is created in the application from now on undoes itself (addTo)
    await this.store.putJSON(deletingKey(appId), true, DELETING_MARK_SECONDS);
    await this.clients.deleteAllOfApp(appId);
    await this.store.delete([appKey(appId)]);
    await this.store.setRemove(APPS_KEY, appId);
  }

  /**
   * Makes something that lives in an application (a client, a resource) so that a deletion of
   * the application racing it never leaves it behind: the deletion marks the application before
   * it lists what to delete, so what `make` saved is either listed by it or, checked here after
   * the save, sees the mark and is undone (404).
   */
  async addTo<T>(appId: string, make: () => Promise<T>, undo: (made: T) => Promise<void>): Promise<T> {
    await this.get(appId);
    const made = await make();
    const [app, deleting] = await Promise.all([this.find(appId), this.store.getJSON(deletingKey(appId))]);
    if (!app || deleting) {
      await undo(made);
      throw notFound('Application');
    }
    return made;
  }
}
